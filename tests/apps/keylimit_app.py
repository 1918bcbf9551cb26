"""Tasks for the concurrency-per-key tests, run by worker subprocesses.

Configured from the environment: REDIS_URL, RQ_STREAM_PREFIX, RQS_BACKEND (streams|lists),
RQS_LEASE_S. Each task measures its own overlap in Redis: INCR a counter per key when it starts
(the value is how many run at that moment, recorded), DECR when it ends; it records its attempt.
"""

from __future__ import annotations

import os

import anyio

from rq_stream import RqStream, current_job

app = RqStream(
    os.environ.get("REDIS_URL"),
    prefix=os.environ.get("RQ_STREAM_PREFIX", "keylimit"),
    lease_s=float(os.environ.get("RQS_LEASE_S", "30")),
)
QUEUE = "limited"
app.queue(QUEUE, backend=os.environ.get("RQS_BACKEND", "streams"))  # type: ignore[arg-type]
LIMIT = 2


def test_key(name: str) -> str:
    return f"{app.prefix}:test:{name}"


async def _overlap(key: str, seconds: float) -> None:
    job = current_job()
    assert job is not None
    running = await app.redis.incr(test_key(f"running:{key}"))
    try:
        await app.redis.rpush(test_key(f"seen:{key}"), running)
        await app.redis.rpush(test_key("attempts"), job.attempt)
        await anyio.sleep(seconds)
    finally:
        await app.redis.decr(test_key(f"running:{key}"))


# max_attempts=1: if waiting for a slot counted as an attempt, the job would be dead-lettered.
@app.task(queue=QUEUE, concurrency=LIMIT, concurrency_key=lambda tenant, **_: tenant,
          max_attempts=1)  # fmt: skip
async def per_tenant(tenant: str, n: int, seconds: float = 0.1) -> int:
    await _overlap(tenant, seconds)
    return n


@app.task(queue=QUEUE, concurrency=1, max_attempts=1)
async def one_at_a_time(n: int, seconds: float = 0.05) -> int:
    """No concurrency_key: the limit is per task."""
    await _overlap("one_at_a_time", seconds)
    return n


@app.task(queue=QUEUE, concurrency=1, concurrency_key=lambda tenant, **_: tenant)
async def hold(tenant: str, n: int) -> int:
    """Its first attempt holds its slot until the worker is killed; later ones return."""
    job = current_job()
    assert job is not None
    await app.redis.rpush(test_key(f"hold:{tenant}"), f"{n}:{job.attempt}")
    if n == 0 and job.attempt == 1:
        await anyio.sleep(3600)
    return n


def configure(url: str, prefix: str, backend: str) -> RqStream:
    """A producer-side twin of this module's app for a test's Redis, prefix and backend."""
    twin = RqStream(url, prefix=prefix)
    twin.queue(QUEUE, backend=backend)  # type: ignore[arg-type]
    for task in app.tasks.values():
        s = task.settings
        twin.task(
            name=task.name,
            queue=s.queue,
            concurrency=s.concurrency,
            concurrency_key=s.concurrency_key,
            max_attempts=s.max_attempts,
        )(task.fn)
    return twin
