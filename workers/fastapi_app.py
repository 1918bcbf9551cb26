"""Enqueue from a FastAPI handler; fetch the result from another.

Run it (two terminals, Redis at $REDIS_URL):

    rq-stream worker workers.fastapi_app:tasks
    uvicorn workers.fastapi_app:app

    curl -X POST localhost:8000/reports -H 'content-type: application/json' \\
         -d '{"text": "the quick brown fox jumps over the lazy dog the end"}'
    # {"job_id":"3f0c...","status":"queued"}
    curl 'localhost:8000/jobs/3f0c...?wait_s=5'
    # {"job_id":"3f0c...","status":"succeeded","result":{"words":11,"top":[["the",3],...]},...}

The web process only enqueues and reads results: ``async with tasks`` in the lifespan opens the
Redis connections once and closes them at shutdown. The task runs in the worker process.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from rq_stream import JobNotFound, JobStatus, ResultTimeout, RqStream, TaskFailed

tasks = RqStream(
    os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "fastapi-example")
)


@tasks.task(queue="reports", result_ttl_s=3600, retries=2)
async def word_report(text: str, top: int = 3) -> dict[str, Any]:
    """Count the words of a text (stands in for any slow work a request should not wait for)."""
    counts = Counter(word.strip(".,;:!?").lower() for word in text.split())
    counts.pop("", None)
    return {"words": sum(counts.values()), "top": counts.most_common(top)}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    async with tasks:  # connect once (fails fast if Redis is down), close at shutdown
        yield


app = FastAPI(title="rq_stream + FastAPI example", lifespan=lifespan)


class ReportRequest(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)
    top: int = Field(default=3, ge=1, le=50)


class JobOut(BaseModel):
    job_id: str
    status: JobStatus
    result: Any = None
    error: dict[str, str] | None = None


@app.post("/reports", status_code=202)
async def create_report(request: ReportRequest) -> JobOut:
    job = await word_report.enqueue(request.text, top=request.top)
    return JobOut(job_id=job.id, status=JobStatus.QUEUED)


@app.get("/jobs/{job_id}")
async def get_job(job_id: str, wait_s: float = Query(default=0.0, ge=0.0, le=30.0)) -> JobOut:
    """A job's status, and its result once it has finished (waiting up to ``wait_s`` for it)."""
    job = tasks.job(job_id, queue="reports")
    if wait_s:
        with suppress(ResultTimeout, TaskFailed, JobNotFound):
            await job.result(timeout_s=wait_s)  # waits on a notification, not by polling
    info = await job.info()
    if info.status is JobStatus.NOT_FOUND:
        raise HTTPException(404, f"no job {job_id!r} (never enqueued, or its result expired)")
    if info.status is JobStatus.SUCCEEDED:
        return JobOut(job_id=job_id, status=info.status, result=await job.result(timeout_s=1))
    if info.status is JobStatus.FAILED:
        error = {k: v for k, v in (info.error or {}).items() if k != "traceback"}
        return JobOut(job_id=job_id, status=info.status, error=error)
    return JobOut(job_id=job_id, status=info.status)
