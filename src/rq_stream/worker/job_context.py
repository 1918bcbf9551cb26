"""What a running task can learn about its job (``rq_stream.current_job()``), set by the
executor for the task's duration and handed to ``process=True`` subprocesses."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a running task can learn about its job: ``rq_stream.current_job()``."""

    job_id: str
    task: str
    queue: str
    attempt: int
    worker: str


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """The worker process a lifespan or a middleware's worker hooks run in."""

    name: str
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
