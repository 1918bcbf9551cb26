"""SAQ under benchmark: ``saq saq_bench.settings --workers N`` (the CLI its docs use)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from probe import probe, redis_url
from saq import Queue

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "100"))


async def noop(ctx: dict[str, Any]) -> None:
    probe.hit()


async def sleep(ctx: dict[str, Any]) -> None:
    started_at = time.time()
    await asyncio.sleep(0.01)
    probe.hit(started_at=started_at)


async def stamp(ctx: dict[str, Any], *, enqueued_at: float) -> None:
    probe.hit(enqueued_at)


def _queue(url: str) -> Queue:
    # redis-py 8 caps an asyncio pool at 100 connections by default, and SAQ holds one per
    # running job plus its dequeue/sweep/stats ones: at concurrency 100 it hits "Too many
    # connections". Raise the cap through the URL (a redis-py URL option).
    sep = "&" if "?" in url else "?"
    return Queue.from_url(f"{url}{sep}max_connections={4 * CONCURRENCY + 100}")


settings = {
    "queue": _queue(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")),
    "functions": [noop, sleep, stamp],
    "concurrency": CONCURRENCY,
}


class Client:
    bulk_note = "no bulk API: asyncio.gather of queue.enqueue, 1,000 at a time"

    def __init__(self) -> None:
        self.queue = _queue(redis_url())

    async def start(self) -> None:
        await self.queue.connect()

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        if kind == "stamp":
            await self.queue.enqueue("stamp", enqueued_at=enqueued_at)
        else:
            await self.queue.enqueue(kind)

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        from drive import gather_bulk

        await gather_bulk(self, kind, n)

    async def backlog(self) -> int:
        return int(await self.queue.count("queued"))

    async def close(self) -> None:
        await self.queue.disconnect()
