"""Profile rq_stream's enqueue and worker paths on a fresh redis-server.

    .venv/bin/python benchmarks/profile_rqs.py [--n 20000] [--backend streams|lists]

pyinstrument comes from the tools virtualenv (benchmarks/.venvs/tools, created by run.py or
here), so it never becomes a project dependency. Besides the call trees it counts, per job,
socket writes (one per command, pipeline or coalesced batch: the client's round trips) and the
Redis commands the server ran (INFO commandstats, counting those inside Lua too). Writes
benchmarks/results/profile/{enqueue_one,enqueue_bulk,worker}.txt and summary.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "peers"))

from rq_stream.testing import RedisServer  # noqa: E402
from run import TOOLS_PACKAGES, VENVS, ensure_venv  # noqa: E402

OUT = ROOT / "results" / "profile"


def tools_on_path() -> None:
    ensure_venv("tools", TOOLS_PACKAGES)
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    sys.path.append(str(VENVS / "tools" / "lib" / ver / "site-packages"))


class RoundTrips:
    """Counts writes on asyncio socket transports: one per command, pipeline or coalesced batch
    of script calls, on both redis-py connections and rq_stream's lean client."""

    def __init__(self) -> None:
        from asyncio import selector_events

        self.count = 0
        cls = selector_events._SelectorSocketTransport
        original = cls.write
        counter = self

        def counted(self: Any, data: Any) -> None:
            counter.count += 1
            original(self, data)

        cls.write = counted  # type: ignore[method-assign]


async def commandstats(app: Any) -> Counter[str]:
    stats = await app.redis.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})


def per_job(before: Counter[str], after: Counter[str], n: int) -> str:
    diff = after - before
    total = sum(diff.values())
    parts = ", ".join(f"{k} {v / n:.2f}" for k, v in diff.most_common() if v / n >= 0.005)
    return f"{total / n:.2f} commands/job ({parts})"


async def profiled(name: str, coro: Any) -> float:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="enabled")
    t0 = time.perf_counter()
    profiler.start()
    await coro
    profiler.stop()
    seconds = time.perf_counter() - t0
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    (OUT / f"{name}.txt").write_text(text)
    return seconds


async def main(args: argparse.Namespace) -> None:
    import rqs_bench
    from rqs_bench import QUEUE, app, noop

    from rq_stream import Worker

    n = args.n
    trips = RoundTrips()
    summary = [
        f"# rq_stream profile ({args.backend} backend, {n:,} jobs)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; pyinstrument at 0.5 ms (adds overhead: compare ratios, "
        "not absolute rates, with the benchmark).",
        "",
    ]
    await app.connect()
    await app.redis.flushall()
    await noop.enqueue()  # register the queue and load the scripts outside the measurement
    await app.redis.flushall()
    app._known_queues.clear()

    async def one_at_a_time() -> None:
        for _ in range(n):
            await noop.enqueue()

    for name, coro_fn in (
        ("enqueue_one", one_at_a_time),
        ("enqueue_bulk", lambda: app.enqueue_many([noop.call() for _ in range(n)])),
    ):
        await app.redis.flushall()
        app._known_queues.clear()
        await app.redis.config_resetstat()
        before, rt0 = await commandstats(app), trips.count
        seconds = await profiled(name, coro_fn())
        rt = (trips.count - rt0) / n
        after = await commandstats(app)
        summary.append(
            f"- {name}: {n / seconds:,.0f} jobs/s under the profiler; {rt:.4f} socket writes/job; "
            f"{per_job(before, after, n)}"
        )

    # Worker: n jobs pre-enqueued (the bulk run above left them), one process, concurrency 100.
    backlog = (await app.backend(QUEUE).counts()).backlog
    assert backlog == n, backlog
    await app.redis.config_resetstat()
    before, rt0 = await commandstats(app), trips.count
    probe = rqs_bench.probe
    start_count = probe.count
    worker = Worker(app, queues=[QUEUE], concurrency=100, burst=True, handle_signals=False)
    seconds = await profiled("worker", worker.run())
    ran = probe.count - start_count
    rt = (trips.count - rt0) / n
    after = await commandstats(app)
    summary.append(
        f"- worker: {ran:,} jobs ran; {n / seconds:,.0f} jobs/s under the profiler (burst run, "
        f"includes start-up and the burst idle check); {rt:.4f} socket writes/job; "
        f"{per_job(before, after, n)}"
    )
    await app.close()
    (OUT / "summary.md").write_text("\n".join(summary) + "\n")
    print("\n".join(summary))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--backend", choices=["streams", "lists"], default="streams")
    cli = parser.parse_args()
    tools_on_path()
    OUT.mkdir(parents=True, exist_ok=True)
    with RedisServer() as server:
        os.environ["BENCH_REDIS_URL"] = server.url
        os.environ["BENCH_RQS_BACKEND"] = cli.backend
        asyncio.run(main(cli))
