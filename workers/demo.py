"""`make demo`: enqueue a few thousand realistic jobs, run two worker processes, watch them go.

Uses $REDIS_URL when it is set and answers; otherwise starts a throwaway redis-server on a free
port and stops it at the end. Ctrl-C stops the workers (gracefully, then by force) and the server.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JOBS = int(os.environ.get("DEMO_JOBS", "5000"))
PROCESSES = 2
CONCURRENCY = 50


def redis_url(stack: ExitStack) -> str:
    """$REDIS_URL if it answers, else a throwaway redis-server (closed by the stack)."""
    from rq_stream.testing import RedisServer

    url = os.environ.get("REDIS_URL")
    if url:
        from redis import Redis

        try:
            Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
            print(f"Using Redis at {url} (from REDIS_URL)")
            return url
        except Exception as exc:
            print(f"REDIS_URL={url} does not answer ({exc}); starting a throwaway redis-server")
    server = stack.enter_context(RedisServer())
    print(f"Started a throwaway redis-server on port {server.port} (stopped at the end)")
    return server.url


def start_workers(url: str, prefix: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "REDIS_URL": url, "RQ_STREAM_PREFIX": prefix, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rq_stream", "worker", "workers.example:app",
           "--concurrency", str(CONCURRENCY), "--log-level", "INFO"]  # fmt: skip
    logs = ROOT / ".demo"
    logs.mkdir(exist_ok=True)
    procs = []
    for i in range(PROCESSES):
        with open(logs / f"worker-{i}.log", "wb") as out:
            procs.append(
                subprocess.Popen(
                    cmd, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
                )
            )
    print(f"Worker logs: {logs}/worker-*.log")
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def enqueue_jobs(example: Any) -> int:
    calls = []
    for i in range(JOBS):
        kind = random.random()
        if kind < 0.45:
            calls.append(example.send_email.call(f"user{i}@example.com", f"Your receipt #{i}"))
        elif kind < 0.75:
            calls.append(example.thumbnail.call(i, width=random.choice([64, 128, 256])))
        elif kind < 0.97:
            calls.append(example.charge.call(i, Decimal(random.randint(1, 500)) / 10))
        else:  # a few bad orders: they fail and end in the dead-letter stream
            calls.append(example.charge.call(i, Decimal("-1")))
    jobs = await example.app.enqueue_many(calls)
    return len(jobs)


async def counters(app: Any) -> dict[str, int]:
    raw = await app.redis.hgetall(app.keys.queue("default").stats)
    return {k.decode(): int(v) for k, v in raw.items() if b":" not in k}


async def watch(app: Any, total: int) -> dict[str, int]:
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    except ImportError:  # plain output without rich
        Progress = None  # type: ignore[assignment,misc]
    done = 0
    c: dict[str, int] = {}
    if Progress is None:
        while done < total:
            await asyncio.sleep(0.5)
            c = await counters(app)
            done = c.get("completed", 0) + c.get("dead", 0)
            print(f"  {done}/{total} jobs finished")
        return c
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns) as progress:
        bar = progress.add_task("processing", total=total)
        while done < total:
            await asyncio.sleep(0.1)
            c = await counters(app)
            done = c.get("completed", 0) + c.get("dead", 0)
            progress.update(bar, completed=done, description=f"retries {c.get('retried', 0):>4}")
    return c


async def demo(url: str, own_server: bool) -> None:
    prefix = f"demo-{uuid.uuid4().hex[:8]}"
    os.environ["REDIS_URL"], os.environ["RQ_STREAM_PREFIX"] = url, prefix
    from workers import example

    async with example.app:
        t0 = time.perf_counter()
        total = await enqueue_jobs(example)
        t_enq = time.perf_counter() - t0
        print(f"Enqueued {total} jobs (emails, thumbnails, payments) in {t_enq * 1000:.0f} ms")
        print(f"Starting {PROCESSES} worker processes (concurrency {CONCURRENCY} each)...")
        procs = start_workers(url, prefix)
        try:
            t1 = time.perf_counter()
            c = await watch(example.app, total)
            elapsed = time.perf_counter() - t1
        finally:
            stop_workers(procs)
        dead = await example.app.dead_letters("default").list(limit=3)
        print()
        print("Summary")
        print(f"  processed   {c.get('completed', 0)} jobs succeeded")
        print(f"  failed      {c.get('dead', 0)} jobs in the dead-letter stream")
        print(f"  retried     {c.get('retried', 0)} attempts retried after transient errors")
        print(f"  time        {elapsed:.2f} s")
        print(f"  throughput  {total / elapsed:,.0f} jobs/s (2 processes, real task bodies)")
        for letter in dead:
            print(f"  dead letter {letter.job_id[:8]}: {letter.exc_type}: {letter.message}")
        if not own_server:
            await cleanup(example.app, prefix)


async def cleanup(app: Any, prefix: str) -> None:
    """Remove the demo's keys from a Redis that is not ours (one UNLINK per scanned page)."""
    cursor = 0
    while True:
        cursor, keys = await app.redis.scan(cursor, match=f"{prefix}:*", count=2000)
        if keys:
            await app.redis.unlink(*keys)
        if cursor == 0:
            return


def main() -> None:
    with ExitStack() as stack:
        url = redis_url(stack)
        own_server = url != os.environ.get("REDIS_URL")
        with suppress(KeyboardInterrupt):
            asyncio.run(demo(url, own_server))
            return
        print(
            "\nInterrupted: the workers are stopped" + (", and the server" if own_server else ".")
        )
    sys.exit(130)


if __name__ == "__main__":
    main()
