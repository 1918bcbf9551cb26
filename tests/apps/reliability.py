"""Tasks for the crash tests, run by worker subprocesses.

Configured from the environment so each test can use its own Redis, prefix, backend and lease:
REDIS_URL, RQ_STREAM_PREFIX, RQS_BACKEND (streams|lists), RQS_LEASE_S.
Each task records what it did in Redis under the prefix, so the test can check every job ran.
"""

from __future__ import annotations

import os

import anyio

from rq_stream import Backoff, RqStream, current_job

app = RqStream(
    os.environ.get("REDIS_URL"),
    prefix=os.environ.get("RQ_STREAM_PREFIX", "reliability"),
    lease_s=float(os.environ.get("RQS_LEASE_S", "30")),
)
QUEUE = "work"
app.queue(QUEUE, backend=os.environ.get("RQS_BACKEND", "streams"))  # type: ignore[arg-type]


async def _record(kind: str, value: object) -> None:
    job = current_job()
    assert job is not None
    async with app.redis.pipeline(transaction=False) as p:
        p.hincrby(f"{app.prefix}:test:{kind}", str(value), 1)
        p.rpush(f"{app.prefix}:test:{kind}:log", f"{value}:{job.attempt}:{job.worker}")
        await p.execute()


# Retries: the task itself writes to Redis, which the restart test takes away for a while.
@app.task(queue=QUEUE, max_attempts=10, retries=8, backoff=Backoff(base_s=0.2, cap_s=1.0))
async def slow(i: int, seconds: float) -> int:
    await _record("started", i)
    await anyio.sleep(seconds)
    await _record("done", i)
    return i


@app.task(queue=QUEUE, max_attempts=2)
async def poison() -> None:
    await _record("started", "poison")
    os._exit(1)


# Default settings (max_attempts 3, no retries): the poison-collateral and fairness tests.
@app.task(queue=QUEUE)
async def plain(i: int, seconds: float) -> int:
    await _record("started", i)
    await anyio.sleep(seconds)
    await _record("done", i)
    return i


@app.task(queue=QUEUE)
async def crash() -> None:
    await _record("started", "crash")
    os._exit(1)


# Timers: when each attempt started (server clock), and a retry after 0.2 s of backoff.
@app.task(queue=QUEUE, retries=1, backoff=Backoff(base_s=0.2, jitter=False))
async def stamp(key: str) -> None:
    job = current_job()
    assert job is not None
    seconds, micros = await app.redis.time()
    await app.redis.rpush(f"{app.prefix}:test:stamp:{key}", f"{seconds}.{micros:06d}")
    if key.startswith("fail") and job.attempt == 1:
        raise RuntimeError("first attempt fails")
