"""A middleware counting every hook in Redis, per job and per process, for the kill test
(REDIS_URL, RQ_STREAM_PREFIX from the environment)."""

from __future__ import annotations

import os
from typing import Any

import anyio
from redis.asyncio import Redis

from rq_stream import JobContext, Middleware, RqStream, WorkerInfo, current_job

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("RQ_STREAM_PREFIX", "mw")


class CountingMiddleware(Middleware):
    """``{prefix}:hooks:<hook>`` is a hash job id (or pid) -> calls; ``{prefix}:pids:<job>`` the
    set of processes that started the job."""

    def __init__(self, url: str = URL, prefix: str = PREFIX) -> None:
        self.url, self.prefix = url, prefix
        self._redis: Redis | None = None

    async def count(self, hook: str, key: str) -> None:
        if self._redis is None:  # one client per process
            self._redis = Redis.from_url(self.url)
        await self._redis.hincrby(f"{self.prefix}:hooks:{hook}", key, 1)

    async def on_worker_start(self, worker: WorkerInfo) -> None:
        await self.count("on_worker_start", str(worker.pid))

    async def on_worker_stop(self, worker: WorkerInfo) -> None:
        await self.count("on_worker_stop", str(worker.pid))

    async def on_start(self, job: JobContext) -> None:
        await self.count("on_start", job.job_id)
        assert self._redis is not None
        await self._redis.sadd(f"{self.prefix}:pids:{job.job_id}", os.getpid())

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        await self.count("on_success", job.job_id)

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        await self.count("on_failure", job.job_id)

    async def on_retry(self, job: JobContext, exc: Exception, delay_s: float) -> None:
        await self.count("on_retry", job.job_id)

    async def on_dead_letter(self, job: JobContext, exc: Exception) -> None:
        await self.count("on_dead_letter", job.job_id)


app = RqStream(URL, prefix=PREFIX, lease_s=2, middleware=[CountingMiddleware()])


@app.task(name="work", retries=2)
async def work(i: int, flaky: bool) -> int:
    """Sleeps 50 ms; a flaky job fails its first attempt."""
    await anyio.sleep(0.05)
    job = current_job()
    if flaky and job is not None and job.attempt == 1:
        raise ValueError(f"job {i} fails its first attempt")
    return i


@app.task(name="doomed")
async def doomed(i: int) -> None:
    raise KeyError(f"job {i} never works")
