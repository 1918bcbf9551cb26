"""bullmq (Python) under benchmark: ``python bullmq_bench.py``, the worker script its docs show
(a ``Worker`` with a processor, running until a signal), one command per process (it has no
CLI). Options left at their defaults (removeOnComplete off, lockDuration 30 s, drainDelay 5 s)
but ``concurrency``, which is the benchmark's (bullmq's own default is 1)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from bullmq import Queue, Worker
from probe import probe, redis_url

NAME = "bench"
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "100"))


async def noop(data: dict[str, Any]) -> None:
    probe.hit()


async def sleep(data: dict[str, Any]) -> None:
    started_at = time.time()
    await asyncio.sleep(0.01)
    probe.hit(started_at=started_at)


async def stamp(data: dict[str, Any]) -> None:
    probe.hit(data["enqueued_at"])


TASKS = {"noop": noop, "sleep": sleep, "stamp": stamp}


async def process(job: Any, job_token: str) -> None:
    """One processor per worker (bullmq's model); it dispatches on the job's name."""
    await TASKS[job.name](job.data)


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(NAME, process, {"connection": redis_url(), "concurrency": CONCURRENCY})
    await stop.wait()
    await worker.close()


class Client:
    bulk_note = "queue.addBulk (all jobs in one call)"

    def __init__(self) -> None:
        self.queue = Queue(NAME, {"connection": redis_url()})

    async def start(self) -> None:
        await self.queue.getJobCountByTypes("wait")  # connect now, not inside the timing

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        data = {"enqueued_at": enqueued_at} if kind == "stamp" else {}
        await self.queue.add(kind, data)

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        await self.queue.addBulk([{"name": kind, "data": {}} for _ in range(n)])

    async def backlog(self) -> int:
        return int(await self.queue.getJobCountByTypes("wait", "prioritized", "delayed"))

    async def close(self) -> None:
        await self.queue.close()


if __name__ == "__main__":
    asyncio.run(main())
