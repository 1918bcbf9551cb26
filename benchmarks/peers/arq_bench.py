"""arq under benchmark: ``arq arq_bench.WorkerSettings`` (one process per command; arq has no
multi-process flag, its docs run several commands). Defaults kept: poll_delay 0.5 s,
keep_result 3600 s; ``max_jobs`` is the benchmark's concurrency."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name
from probe import probe, redis_url

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "100"))


async def noop(ctx: dict[str, Any]) -> None:
    probe.hit()


async def sleep(ctx: dict[str, Any]) -> None:
    started_at = time.time()
    await asyncio.sleep(0.01)
    probe.hit(started_at=started_at)


async def stamp(ctx: dict[str, Any], enqueued_at: float) -> None:
    probe.hit(enqueued_at)


async def quiet(ctx: dict[str, Any]) -> None:
    # arq logs two INFO lines per job; every library runs with per-job logging off.
    logging.getLogger("arq").setLevel(logging.WARNING)


def _settings() -> RedisSettings:
    return RedisSettings.from_dsn(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"))


class WorkerSettings:
    functions = [noop, sleep, stamp]
    redis_settings = _settings()
    max_jobs = CONCURRENCY
    on_startup = quiet


class Client:
    bulk_note = "no bulk API: asyncio.gather of enqueue_job, 1,000 at a time"

    def __init__(self) -> None:
        self.pool: ArqRedis | None = None

    async def start(self) -> None:
        self.pool = await create_pool(RedisSettings.from_dsn(redis_url()))

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        assert self.pool is not None
        if kind == "stamp":
            await self.pool.enqueue_job("stamp", enqueued_at)
        else:
            await self.pool.enqueue_job(kind)

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        from drive import gather_bulk

        await gather_bulk(self, kind, n)

    async def backlog(self) -> int:
        assert self.pool is not None
        return int(await self.pool.zcard(default_queue_name))

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
