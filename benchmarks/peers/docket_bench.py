"""pydocket under benchmark: ``docket worker --tasks docket_bench:tasks`` (the CLI its docs
run in production), one command per process (it has no multi-process flag). Every CLI default
is kept but two: ``--concurrency`` is the benchmark's (the CLI's own default is 10), and
``--logging-level WARNING`` (it logs two INFO lines per task)."""

from __future__ import annotations

import asyncio
import os
import time

from docket import Docket
from probe import probe, redis_url

NAME = "bench"
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "100"))


async def noop() -> None:
    probe.hit()


async def sleep() -> None:
    started_at = time.time()
    await asyncio.sleep(0.01)
    probe.hit(started_at=started_at)


async def stamp(enqueued_at: float) -> None:
    probe.hit(enqueued_at)


tasks = [noop, sleep, stamp]
TASKS = {"noop": noop, "sleep": sleep}


class Client:
    bulk_note = "docket.add_many (pipelined, 1,000 per round trip)"

    def __init__(self) -> None:
        # As for the worker (libs.pool_url): raise redis-py 8's 100-connection pool cap.
        sep = "&" if "?" in redis_url() else "?"
        url = f"{redis_url()}{sep}max_connections={4 * CONCURRENCY + 100}"
        self.docket = Docket(name=NAME, url=url)

    async def start(self) -> None:
        await self.docket.__aenter__()

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        if kind == "stamp":
            await self.docket.add(stamp)(enqueued_at)
        else:
            await self.docket.add(TASKS[kind])()

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        task = TASKS[kind]
        await self.docket.add_many([self.docket.call(task)() for _ in range(n)])

    async def backlog(self) -> int:
        async with self.docket.redis() as r:
            return int(await r.xlen(self.docket.stream_key)) + int(
                await r.zcard(self.docket.queue_key)
            )

    async def close(self) -> None:
        await self.docket.__aexit__(None, None, None)
