"""streaq under benchmark: ``streaq run streaq_bench:worker --workers N`` (its CLI)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from probe import probe, redis_url
from streaq import Worker

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "100"))


@asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    # streaq logs two INFO lines per task; every library runs with per-job logging off.
    logging.getLogger("streaq").setLevel(logging.WARNING)
    yield None


worker = Worker(
    redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
    concurrency=CONCURRENCY,
    lifespan=lifespan,
)


@worker.task(name="noop")
async def noop() -> None:
    probe.hit()


@worker.task(name="sleep")
async def sleep() -> None:
    started_at = time.time()
    await anyio.sleep(0.01)
    probe.hit(started_at=started_at)


@worker.task(name="stamp")
async def stamp(enqueued_at: float) -> None:
    probe.hit(enqueued_at)


TASKS = {"noop": noop, "sleep": sleep}


class Client:
    bulk_note = "worker.enqueue_many (one pipeline)"

    def __init__(self) -> None:
        if redis_url() != os.environ.get("BENCH_REDIS_URL"):
            raise RuntimeError("BENCH_REDIS_URL changed after import")
        self.worker = worker
        self._cm = worker.__asynccontextmanager__()

    async def start(self) -> None:
        await self._cm.__aenter__()

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        if kind == "stamp":
            await stamp.enqueue(enqueued_at)
        else:
            await TASKS[kind].enqueue()

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        task = TASKS[kind]
        await self.worker.enqueue_many([task.enqueue() for _ in range(n)])

    async def backlog(self) -> int:
        return int(await self.worker.queue_size())

    async def close(self) -> None:
        await self._cm.__aexit__(None, None, None)
