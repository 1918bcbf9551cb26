"""Everything issue 13 adds, in one app, for the multi-process kill test (REDIS_URL and
RQ_STREAM_PREFIX from the environment): a lifespan that opens a resource (its own Redis client)
and counts its opening and closing per process, a per-job provider (an async generator) with a
cleanup and a worker-cached one on top of the lifespan's state, a middleware counting every hook
per job, and the JSON serializer.

Counters, all in Redis under the prefix: ``{p}:life:open`` / ``{p}:life:close`` (hashes pid ->
count), ``{p}:hooks:<hook>`` (hash job id or pid -> count), ``{p}:cleanups`` (hash job id ->
provider cleanups), ``{p}:pids:<job>`` (set of the pids that started the job).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from redis.asyncio import Redis

from rq_stream import Depends, EnqueueInfo, JobContext, RqStream, WorkerInfo, worker_state
from rq_stream.serializers import JsonSerializer

from .middleware_app import CountingMiddleware

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("RQ_STREAM_PREFIX", "integration")


class Counting(CountingMiddleware):
    """tests/apps/middleware_app.py's counters, and before_enqueue's (in the producer)."""

    async def before_enqueue(self, job: EnqueueInfo) -> None:
        await self.count("before_enqueue", job.job_id)


app = RqStream(URL, prefix=PREFIX, lease_s=2, serializer=JsonSerializer(), middleware=[Counting()])


@dataclass
class State:
    redis: Redis
    pid: int


@app.lifespan
async def lifespan(worker: WorkerInfo) -> AsyncIterator[State]:
    client = Redis.from_url(URL)
    await client.hincrby(f"{PREFIX}:life:open", str(worker.pid), 1)
    try:
        yield State(client, worker.pid)
    finally:
        await client.hincrby(f"{PREFIX}:life:close", str(worker.pid), 1)
        await client.aclose()


async def connection(job: JobContext, state: State = Depends(worker_state)) -> AsyncIterator[Redis]:
    """Per job: the lifespan's client; its cleanup (counted per job) runs whatever the outcome."""
    try:
        yield state.redis  # the job's exception, if any, is raised here
    finally:
        await state.redis.hincrby(f"{PREFIX}:cleanups", job.job_id, 1)


def worker_pid(state: State = Depends(worker_state)) -> int:
    return state.pid


def this_job(job: JobContext) -> JobContext:
    """A provider given the job's context (a parameter annotated JobContext)."""
    return job


@app.task(name="charge", retries=2)
async def charge(
    order: int,
    flaky: bool,
    db: Redis = Depends(connection),
    pid: int = Depends(worker_pid, scope="worker"),
    job: JobContext = Depends(this_job),
) -> dict[str, int]:
    """Sleeps 40 ms; a flaky order fails its first attempt. Returns JSON-able data."""
    await anyio.sleep(0.04)
    await db.hincrby(f"{PREFIX}:charged", str(order), 1)
    if flaky and job.attempt == 1:
        raise ValueError(f"order {order} fails its first attempt")
    return {"order": order, "pid": pid}


@app.task(name="doomed")
async def doomed(order: int, db: Redis = Depends(connection)) -> None:
    raise KeyError(f"order {order} never works")
