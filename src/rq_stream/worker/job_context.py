"""What a running task can learn about its job (``rq_stream.current_job()``), set by the
executor for the task's duration and handed to ``process=True`` subprocesses; and what a
worker's lifespan learns of its worker (:class:`WorkerInfo`)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a running task can learn about its job: ``rq_stream.current_job()``."""

    job_id: str
    task: str
    queue: str
    attempt: int
    worker: str
    state: Any = None
    """What the app's lifespan yielded in this worker (None without a lifespan, and in a
    ``process=True`` subprocess): annotate where you read it, ``state: State = job.state``."""


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """The worker a lifespan runs in (``@app.lifespan``), one per worker process."""

    name: str
    """The consumer name (``host:pid:random``), as in the logs and ``rq-stream info``."""
    queues: tuple[str, ...]
    concurrency: int
    pid: int
    burst: bool


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "rq_stream_job", default=None
)


def current_job() -> JobContext | None:
    """The job being run by this task (None outside a worker)."""
    return _current.get()
