"""Tasks for the logging tests (REDIS_URL, RQ_STREAM_PREFIX from the environment)."""

from __future__ import annotations

import logging
import os

from rq_stream import Retry, RqStream, current_job

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "logs"))


@app.task(name="add")
async def add(x: int, y: int) -> int:
    return x + y


@app.task(name="chatty")
def chatty(text: str) -> str:
    logging.getLogger("chatty.stdlib").warning("a stdlib warning: %s", text)
    try:
        raise KeyError(text)
    except KeyError:
        logging.getLogger("chatty.stdlib").exception("a stdlib error with a traceback")
    return text


@app.task(name="again", retries=0, max_attempts=3)
async def again() -> int:
    job = current_job()
    assert job is not None
    if job.attempt == 1:
        raise Retry(delay_s=0.01, reason="not yet")
    return job.attempt


@app.task(name="broken", retries=1)
async def broken() -> None:
    raise ValueError("always")
