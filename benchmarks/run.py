"""rq_stream against arq, SAQ, streaq, taskiq-redis, pydocket and bullmq (and the bare-loop limit)
on one fresh redis-server.

    .venv/bin/python benchmarks/run.py            # the full run (make bench), ~22 min on 2 cores
    .venv/bin/python benchmarks/run.py --quick    # smoke run, ~3 min
    .venv/bin/python benchmarks/run.py --only rq_stream,arq --reps 5

Each peer lives in its own virtualenv under benchmarks/.venvs/ (their redis-py pins conflict),
created on first use with pip. Every case runs in a subprocess of the library's own interpreter
(``peers/drive.py`` for clients, the library's worker CLI for workers); jobs report to the probe
(``peers/probe.py``), which is how each run checks that every job really ran. Libraries are
interleaved (rounds of A, B, C, ...) so that drift on a shared machine hits all alike, and each
figure is the median of ``--reps`` runs. Results go to benchmarks/results/latest.{md,json,png}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from libs import LIBS, VENVS, Lib, Unavailable, ensure_venv, log, versions  # noqa: E402
from report import METRICS, write_report  # noqa: E402
from rq_stream.testing import RedisServer  # noqa: E402

PEERS = ROOT / "peers"
RESULTS = ROOT / "results"
TOOLS_PACKAGES = ("matplotlib", "pyinstrument", "py-spy")

# Keys the probe (peers/probe.py) writes.
DONE, FIRST, LAST = "bench:done", "bench:first", "bench:last"
RSS, LATENCY = "bench:rss", "bench:lat"


class BenchError(Exception):
    """A figure could not be measured or did not verify; the table shows the message."""


# --------------------------------------------------------------------------- running cases
@dataclass
class Params:
    reps: int
    enqueue_n: int
    noop_n: int
    sleep_n: int
    lat_n: int
    lat_rate: float
    concurrency: int
    procs: int


class Bench:
    def __init__(self, server: RedisServer, params: Params) -> None:
        self.server = server
        self.params = params
        self.r = redis.Redis.from_url(server.url)
        self.logs = RESULTS / "raw"
        self.logs.mkdir(parents=True, exist_ok=True)

    def env(self, lib: Lib) -> dict[str, str]:
        env = dict(os.environ)
        env.update(lib.env)
        env["BENCH_REDIS_URL"] = self.server.url
        env["BENCH_CONCURRENCY"] = str(self.params.concurrency)
        env["PYTHONPATH"] = str(PEERS)
        env.pop("REDIS_URL", None)
        return env

    def drive(self, lib: Lib, args: list[str], timeout_s: float) -> dict[str, Any]:
        cmd = [lib.python, str(PEERS / "drive.py"), lib.module, *args]
        try:
            proc = subprocess.run(
                cmd, env=self.env(lib), cwd=PEERS, capture_output=True, text=True,
                timeout=timeout_s,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise BenchError(f"client did not finish within {timeout_s:.0f} s") from None
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise BenchError(f"client failed: {tail[0][:300]}")
        out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        if "unavailable" in out:
            raise Unavailable(out["unavailable"])
        if "error" in out:
            raise BenchError(out["error"])
        return out

    def flush(self) -> None:
        self.r.flushall()

    # ------------------------------------------------------------------ enqueue
    def enqueue(self, lib: Lib, mode: str, n: int, kind: str = "noop") -> dict[str, Any]:
        out = self.drive(
            lib, ["enqueue", "--kind", kind, "--n", str(n), "--mode", mode], 60 + n / 100
        )
        if out["backlog"] != n:
            raise BenchError(f"enqueued {n} jobs but the queue holds {out['backlog']}")
        return out

    def case_enqueue(self, lib: Lib, mode: str) -> dict[str, Any]:
        self.flush()
        n = self.params.enqueue_n
        out = self.enqueue(lib, mode, n)
        key = "enqueue_one" if mode == "one" else "enqueue_bulk"
        return {key: n / out["seconds"], "_note": out["note"]}

    # ------------------------------------------------------------------ workers
    def spawn(self, lib: Lib, procs: int, tag: str) -> list[subprocess.Popen[bytes]]:
        out = (self.logs / f"{lib.key}-{tag}.log").open("ab")
        env = self.env(lib)
        workers = []
        for cmd in lib.worker_cmds(procs, self.params.concurrency, self.server.url):
            workers.append(
                subprocess.Popen(
                    cmd,
                    env=env,
                    cwd=PEERS,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return workers

    @staticmethod
    def stop(workers: list[subprocess.Popen[bytes]]) -> None:
        """SIGKILL each worker's own process group (the measurement is over by then)."""
        for p in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in workers:
            p.wait(10)

    def wait_done(self, n: int, workers: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        done = 0
        while time.monotonic() < deadline:
            done = int(self.r.get(DONE) or 0)
            if done >= n:
                break
            if all(p.poll() is not None for p in workers):
                raise BenchError(f"worker exited (code {workers[0].returncode}) at {done}/{n}")
            time.sleep(0.02)
        else:
            raise BenchError(f"only {done}/{n} jobs done after {timeout_s:.0f} s")
        time.sleep(0.3)  # anything still running would be a duplicate
        done = int(self.r.get(DONE) or 0)
        if done != n:
            raise BenchError(f"{done} jobs ran for {n} enqueued (duplicates)")

    def _floats(self, key: str) -> list[float]:
        return [float(v) for v in self.r.hvals(key)]

    def _commands(self) -> int:
        stats = self.r.info("commandstats")
        return sum(int(v["calls"]) for v in stats.values())

    def case_workers(self, lib: Lib, kind: str, n: int, procs: int) -> dict[str, Any]:
        self.flush()
        self.enqueue(lib, "bulk", n, kind)
        self.r.config_resetstat()
        spawned = time.time()
        workers = self.spawn(lib, procs, f"{kind}-{procs}")
        try:
            self.wait_done(n, workers, 30 + n / 200)
            commands = self._commands()
        finally:
            self.stop(workers)
        first, last = min(self._floats(FIRST)), max(self._floats(LAST))
        rate = n / (last - first)
        out: dict[str, Any] = {"_spawn_to_done_s": last - spawned}
        if kind == "sleep":
            out["sleep"] = rate
        elif procs == 1:
            out["noop_1"] = rate
            out["rss_mb"] = max(self._floats(RSS)) / 1024
            out["commands_per_job"] = commands / n
        else:
            out["noop_n"] = rate
        return out

    def case_latency(self, lib: Lib) -> dict[str, Any]:
        self.flush()
        n = self.params.lat_n
        workers = self.spawn(lib, 1, "latency")
        try:
            self.drive(lib, ["feed", "--n", str(n), "--rate", str(self.params.lat_rate)], 120)
            self.wait_done(n + 1, workers, 30)
        finally:
            self.stop(workers)
        samples = sorted(float(x) * 1000 for x in self.r.lrange(LATENCY, 0, -1))
        if len(samples) != n:
            raise BenchError(f"{len(samples)} latency samples for {n} jobs")
        p99 = samples[min(n - 1, round(0.99 * (n - 1)))]
        return {"lat_p50": statistics.median(samples), "lat_p99": p99}


CASES = {
    "enqueue_one": lambda b, lib: b.case_enqueue(lib, "one"),
    "enqueue_bulk": lambda b, lib: b.case_enqueue(lib, "bulk"),
    "noop_1": lambda b, lib: b.case_workers(lib, "noop", b.params.noop_n, 1),
    "noop_n": lambda b, lib: b.case_workers(lib, "noop", b.params.noop_n, b.params.procs),
    "sleep": lambda b, lib: b.case_workers(lib, "sleep", b.params.sleep_n, 1),
    "latency": lambda b, lib: b.case_latency(lib),
}


def run_all(bench: Bench, libs: list[Lib], cases: list[str]) -> dict[str, Any]:
    reps = bench.params.reps
    values: dict[str, dict[str, list[float]]] = {}
    errors: dict[str, dict[str, list[str]]] = {}
    notes: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for case in cases:
        active = [lib for lib in libs if lib.runs(case)]
        for rep in range(reps if active else 0):
            order = active[rep % len(active) :] + active[: rep % len(active)]
            for lib in order:
                if lib.key in unavailable:
                    continue
                t0 = time.monotonic()
                try:
                    got = CASES[case](bench, lib)
                except Unavailable as exc:
                    unavailable[lib.key] = str(exc)
                    log(f"[{case}] {lib.label}: not available: {exc}")
                    continue
                except (BenchError, subprocess.SubprocessError, ValueError, OSError) as exc:
                    errors.setdefault(case, {}).setdefault(lib.key, []).append(str(exc))
                    log(f"[{case}] rep {rep + 1}/{reps} {lib.label}: FAILED: {exc}")
                    continue
                note = got.pop("_note", "")
                if note:
                    notes[lib.key] = note
                shown = []
                for metric, value in got.items():
                    values.setdefault(metric, {}).setdefault(lib.key, []).append(value)
                    if not metric.startswith("_"):
                        unit = METRICS[metric].unit if metric in METRICS else ""
                        shown.append(f"{metric}={value:,.1f}{unit and ' ' + unit}")
                took = time.monotonic() - t0
                log(f"[{case}] rep {rep + 1}/{reps} {lib.label}: {', '.join(shown)} ({took:.1f}s)")
    return {"values": values, "errors": errors, "notes": notes, "unavailable": unavailable}


def environment(server_url: str, libs: list[Lib]) -> dict[str, Any]:
    info = redis.Redis.from_url(server_url).info("server")
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu_count": os.cpu_count(),
        "cpu": cpu,
        "load_avg_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "redis": info.get("redis_version"),
        "rq_stream_commit": commit,
        "libraries": {lib.key: versions(lib) for lib in libs},
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (~3 min)")
    parser.add_argument("--reps", type=int, help="repetitions per figure (3; quick: 1)")
    parser.add_argument("--only", help="comma-separated library keys (default: all)")
    parser.add_argument("--cases", help=f"comma-separated cases of {','.join(CASES)}")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--out", help="where latest.* go (default: results/, quick runs: results/quick/)"
    )
    parser.add_argument("--no-chart", action="store_true")
    return parser.parse_args(argv)


def params_for(args: argparse.Namespace) -> Params:
    cores = os.cpu_count() or 1
    if args.quick:
        return Params(args.reps or 1, 2000, 2000, 500, 100, 200.0, args.concurrency, cores)
    return Params(args.reps or 3, 20000, 20000, 2000, 500, 200.0, args.concurrency, cores)


def prepare(libs: list[Lib]) -> dict[str, str]:
    """Create the peers' virtualenvs; returns {lib key: why it cannot run}."""
    broken: dict[str, str] = {}
    for lib in libs:
        if lib.venv is None:
            continue
        try:
            ensure_venv(lib.venv, lib.packages)
        except Unavailable as exc:
            broken[lib.key] = str(exc)
    return broken


def chart(out: Path) -> str | None:
    try:
        ensure_venv("tools", TOOLS_PACKAGES)
    except Unavailable as exc:
        return f"no chart: {exc}"
    proc = subprocess.run(
        [str(VENVS / "tools" / "bin" / "python"), str(ROOT / "chart.py"), str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return f"no chart: {proc.stderr.strip()[-300:]}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    libs = [lib for lib in LIBS if not args.only or lib.key in args.only.split(",")]
    cases = args.cases.split(",") if args.cases else list(CASES)
    params = params_for(args)
    out = Path(args.out) if args.out else RESULTS / "quick" if args.quick else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    broken = prepare(libs)
    with RedisServer() as server:
        env = environment(server.url, [lib for lib in libs if lib.key not in broken])
        log(f"redis-server {env['redis']} on {server.url}; {params}")
        bench = Bench(server, params)
        results = run_all(bench, [lib for lib in libs if lib.key not in broken], cases)
    results["unavailable"].update(broken)
    env["duration_s"] = round(time.monotonic() - started, 1)
    data = {
        "mode": "quick" if args.quick else "full",
        "params": params.__dict__,
        "environment": env,
        "libraries": {lib.key: lib.label for lib in libs},
        **results,
    }
    (out / "latest.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    problem = None if args.no_chart else chart(out)
    table = write_report(data, out / "latest.md", chart_problem=problem)
    print(table)
    failed = sum(len(v) for v in results["errors"].values())
    ours = sum(len(v) for runs in results["errors"].values() for k, v in runs.items()
               if k.startswith("rq_stream"))  # fmt: skip
    if failed:
        log(f"{failed} run(s) FAILED ({ours} of them rq_stream's): see the table")
    # A peer that loses or duplicates jobs is a finding, shown in the table; ours fail the run.
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())
