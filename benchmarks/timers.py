"""How late sub-second delays and retries run on an idle CLI worker.

    .venv/bin/python benchmarks/timers.py [--n 20]

Starts a throwaway redis-server and ``rq-stream worker timers:app``, then enqueues jobs with
``options(delay_s=...)`` and a task that fails once with ``Backoff(base_s=0.2, jitter=False)``,
one at a time, each at a random phase. Lateness = when the attempt started (Redis clock, read
by the task) minus when it was due. Prints p50 / p90 / max per case.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

from rq_stream import Backoff, RqStream, current_job
from rq_stream.testing import RedisServer

HERE = Path(__file__).resolve().parent

app = RqStream(os.environ.get("REDIS_URL"), prefix="timers")


async def _now() -> float:
    seconds, micros = await app.redis.time()
    return float(seconds) + micros / 1e6


@app.task(name="stamp")
async def stamp(key: str) -> None:
    await app.redis.rpush(f"timers:{key}", await _now())


@app.task(name="fail_once", retries=1, backoff=Backoff(base_s=0.2, jitter=False))
async def fail_once(key: str) -> None:
    await app.redis.rpush(f"timers:{key}", await _now())
    job = current_job()
    if job is not None and job.attempt == 1:
        raise RuntimeError("the first attempt fails")


async def _wait(key: str, n: int) -> list[float]:
    for _ in range(500):
        got = await app.redis.lrange(f"timers:{key}", 0, -1)
        if len(got) >= n:
            return [float(x) for x in got]
        await asyncio.sleep(0.01)
    raise SystemExit(f"job {key} did not run")


async def measure(n: int) -> dict[str, list[float]]:
    late: dict[str, list[float]] = {"delay 0.05 s": [], "delay 0.3 s": [], "backoff 0.2 s": []}
    async with app:
        while not await app.redis.zcard(app.keys.workers):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        for i in range(n):
            for case, delay in (("delay 0.05 s", 0.05), ("delay 0.3 s", 0.3)):
                await asyncio.sleep(random.uniform(0, 0.5))
                t0 = await _now()
                await stamp.options(delay_s=delay).enqueue(f"{case}{i}")
                (started,) = await _wait(f"{case}{i}", 1)
                late[case].append(started - t0 - delay)
            await asyncio.sleep(random.uniform(0, 0.5))
            await fail_once.enqueue(f"retry{i}")
            first, second = await _wait(f"retry{i}", 2)
            late["backoff 0.2 s"].append(second - first - 0.2)
    return late


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="jobs per case")
    args = parser.parse_args()
    with RedisServer() as server:
        app.url = server.url
        env = {**os.environ, "REDIS_URL": server.url, "PYTHONPATH": str(HERE)}
        worker = subprocess.Popen(
            [sys.executable, "-m", "rq_stream", "worker", "timers:app", "--log-level", "warning"],
            cwd=HERE,
            env=env,
        )
        try:
            late = asyncio.run(measure(args.n))
        finally:
            worker.terminate()
            worker.wait(30)
    print(f"lateness on an idle CLI worker, {args.n} jobs per case (ms):")
    for case, values in late.items():
        ms = sorted(v * 1000 for v in values)
        p90 = ms[int(0.9 * (len(ms) - 1))]
        print(f"  {case:14} p50 {statistics.median(ms):6.1f}  p90 {p90:6.1f}  max {ms[-1]:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
