"""Tasks for the metrics tests (REDIS_URL, RQ_STREAM_PREFIX from the environment): ``ok``
succeeds, ``flaky`` fails its first attempt and is retried at once, ``doomed`` is
dead-lettered at its first failure; ``slow`` holds a job so the test can see it running."""

from __future__ import annotations

import os

import anyio

from rq_stream import Backoff, RqStream, current_job

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "metrics"))


@app.task
async def ok(i: int) -> int:
    return i


@app.task(retries=1, backoff=Backoff(base_s=0.0, cap_s=0.0, jitter=False))
async def flaky(i: int) -> int:
    job = current_job()
    if job is not None and job.attempt == 1:
        raise ConnectionError(f"flaky {i}: first attempt fails")
    return i


@app.task(retries=0)
async def doomed(i: int) -> None:
    raise ValueError(f"doomed {i}")


@app.task
async def slow(seconds: float) -> None:
    await anyio.sleep(seconds)
