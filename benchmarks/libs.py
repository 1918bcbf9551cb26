"""The libraries under benchmark: how each is installed (a virtualenv of its own under
benchmarks/.venvs/, created with pip on first use) and how its workers are started."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENVS = ROOT / ".venvs"


class Unavailable(Exception):
    """The library cannot run here at all (install failed, feature missing)."""


@dataclass(frozen=True)
class Lib:
    key: str
    label: str
    module: str
    venv: str | None  # None: the project's own virtualenv
    packages: tuple[str, ...] = ()
    dists: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cases: tuple[str, ...] = ()  # the cases it runs (none named: all of them)
    own_concurrency: bool = False  # run the worker at its own default, not the benchmark's

    @property
    def bin(self) -> Path:
        return Path(sys.executable).parent if self.venv is None else VENVS / self.venv / "bin"

    @property
    def python(self) -> str:
        return sys.executable if self.venv is None else str(self.bin / "python")

    def runs(self, case: str) -> bool:
        return not self.cases or case in self.cases

    def worker_cmds(self, procs: int, concurrency: int, url: str) -> list[list[str]]:
        """The worker command(s) each library's documentation shows, for ``procs`` processes."""
        c, p = str(concurrency), str(procs)
        if self.key.startswith("rq_stream"):
            one = [self.python, "-m", "rq_stream", "worker", "rqs_bench:app"]
            one += [] if self.own_concurrency else ["-c", c]
            return [[*one, "--log-level", "WARNING"]] * procs
        if self.key.startswith("limit"):  # one bare loop per process
            return [[self.python, f"{self.module}.py"]] * procs
        if self.key == "arq":  # no multi-process flag: one command per process
            return [[str(self.bin / "arq"), "arq_bench.WorkerSettings"]] * procs
        if self.key == "saq":
            return [[str(self.bin / "saq"), "saq_bench.settings", "--workers", p]]
        if self.key == "streaq":
            return [[str(self.bin / "streaq"), "run", "streaq_bench:worker", "--workers", p]]
        if self.key.startswith("taskiq"):
            cmd = [str(self.bin / "taskiq"), "worker", "taskiq_bench:broker", "--workers", p]
            return [[*cmd, "--max-async-tasks", c, "--log-level", "WARNING"]]
        if self.key == "pydocket":  # no multi-process flag: one command per process
            cmd = [str(self.bin / "docket"), "worker", "--tasks", "docket_bench:tasks"]
            cmd += ["--docket", "bench", "--url", pool_url(url, concurrency), "--concurrency", c]
            return [[*cmd, "--logging-level", "WARNING"]] * procs
        if self.key == "bullmq":  # no CLI: the worker script its docs show, once per process
            return [[self.python, "bullmq_bench.py"]] * procs
        raise ValueError(self.key)


def pool_url(url: str, concurrency: int) -> str:
    """``url`` with redis-py's pool cap raised: redis-py 8 caps an asyncio pool at 100
    connections, and SAQ and pydocket hold one per running job (plus their own), so at
    concurrency 100 they fail with "Too many connections" without it."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}max_connections={4 * concurrency + 100}"


# rq_stream gets a virtualenv of its own too, like every peer: the package and its runtime
# dependencies only (an editable install, so it runs the code of this checkout), not the
# project's dev tools (rich, fastapi, mypy...) that would inflate the worker's RSS.
RQS_PACKAGES = ("-e", str(ROOT.parent))

# Cases the bare loop has no counterpart for: 10 ms jobs (its ideal is C / 10 ms, known).
LIMIT_CASES = ("enqueue_one", "enqueue_bulk", "noop_1", "noop_n", "latency")

LIBS = [
    # The reference, not a peer: the bare protocol loop (peers/limit_bench.py), run in
    # rq_stream's virtualenv with the same client and codec.
    Lib(
        "limit",
        "limit (bare loop)",
        "limit_bench",
        "rq_stream",
        RQS_PACKAGES,
        dists=("redis", "hiredis", "msgpack"),
        cases=LIMIT_CASES,
    ),
    Lib(
        "limit-redispy",
        "limit (bare loop, redis-py)",
        "limit_redispy_bench",
        "rq_stream",
        RQS_PACKAGES,
        dists=("redis", "hiredis", "msgpack"),
        cases=LIMIT_CASES,
    ),
    Lib(
        "rq_stream",
        "rq_stream (streams)",
        "rqs_bench",
        "rq_stream",
        RQS_PACKAGES,
        dists=("rq_stream", "redis"),
    ),
    # The worker at the concurrency users get when they pass no -c: what "no-op at the
    # default concurrency" in the targets is measured on.
    Lib(
        "rq_stream-default",
        "rq_stream (streams, default -c)",
        "rqs_bench",
        "rq_stream",
        RQS_PACKAGES,
        dists=("rq_stream", "redis"),
        cases=("noop_1",),
        own_concurrency=True,
    ),
    Lib(
        "rq_stream-mw",
        "rq_stream (streams, 1 no-op middleware)",
        "rqs_bench",
        "rq_stream",
        RQS_PACKAGES,
        dists=("rq_stream", "redis"),
        env={"BENCH_RQS_MIDDLEWARE": "noop"},
    ),
    Lib(
        "rq_stream-metrics",
        "rq_stream (streams, Prometheus metrics on)",
        "rqs_bench",
        "rq_stream-metrics",  # a virtualenv of its own: the plain one stays without the extra
        (*RQS_PACKAGES, "prometheus-client>=0.20"),
        dists=("rq_stream", "redis", "prometheus-client"),
        env={"BENCH_RQS_METRICS": "1"},
    ),
    Lib(
        "rq_stream-lists",
        "rq_stream (lists)",
        "rqs_bench",
        "rq_stream",
        RQS_PACKAGES,
        dists=("rq_stream", "redis"),
        env={"BENCH_RQS_BACKEND": "lists"},
    ),
    Lib("arq", "arq", "arq_bench", "arq", ("arq",), ("arq", "redis")),
    # saq 0.26 imports typing_extensions without declaring it.
    Lib("saq", "saq", "saq_bench", "saq", ("saq[hiredis]", "typing_extensions"), ("saq", "redis")),
    Lib("streaq", "streaq", "streaq_bench", "streaq", ("streaq",), ("streaq", "coredis")),
    Lib(
        "taskiq",
        "taskiq-redis (stream)",
        "taskiq_bench",
        "taskiq",
        ("taskiq", "taskiq-redis"),
        ("taskiq", "taskiq-redis", "redis"),
        {"BENCH_TASKIQ_BROKER": "stream"},
    ),
    Lib(
        "taskiq-list",
        "taskiq-redis (list)",
        "taskiq_bench",
        "taskiq",
        ("taskiq", "taskiq-redis"),
        ("taskiq", "taskiq-redis", "redis"),
        {"BENCH_TASKIQ_BROKER": "list"},
    ),
    Lib(
        "pydocket",
        "pydocket",
        "docket_bench",
        "pydocket",
        ("pydocket",),
        ("pydocket", "redis"),
    ),
    Lib("bullmq", "bullmq", "bullmq_bench", "bullmq", ("bullmq",), ("bullmq", "redis")),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _project_hashes(packages: tuple[str, ...]) -> list[str]:
    """The pyproject.toml digest of each local project installed (``-e PATH``): a change of its
    dependencies (a new one on main) reinstalls the virtualenv instead of failing to import."""
    out = []
    for p in packages:
        project = Path(p) / "pyproject.toml"
        if project.is_file():
            out.append(f"{p}#{hashlib.sha256(project.read_bytes()).hexdigest()[:16]}")
    return out


def ensure_venv(name: str, packages: tuple[str, ...]) -> None:
    """Create benchmarks/.venvs/NAME with ``packages`` unless it already has exactly those."""
    path = VENVS / name
    stamp = path / ".bench-installed"
    wanted = "\n".join(sorted(packages) + _project_hashes(packages))
    if stamp.exists() and stamp.read_text() == wanted:
        return
    log(f"setting up benchmarks/.venvs/{name}: pip install {' '.join(packages)}")
    VENVS.mkdir(exist_ok=True)
    logfile = VENVS / f"{name}.log"
    with logfile.open("w") as out:
        steps = [
            [sys.executable, "-m", "venv", str(path)],
            [str(path / "bin" / "python"), "-m", "pip", "install", "-q", *packages],
        ]
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                tail = logfile.read_text(errors="replace").strip().splitlines()[-1:]
                raise Unavailable(f"pip install failed: {' '.join(tail)[:200]}")
    stamp.write_text(wanted)


def versions(lib: Lib) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        f"for d in {list(lib.dists)!r}:\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: out[d] = 'missing'\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run([lib.python, "-c", code], capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}
