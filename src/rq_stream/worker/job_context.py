"""What a running task can learn about its job (``rq_stream.current_job()``), set by the
executor for the task's duration and handed to ``process=True`` subprocesses; and what a
worker's lifespan learns of its worker (:class:`WorkerInfo`)."""

from __future__ import annotations

import contextvars
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from rq_stream.errors import ConfigurationError


class ProgressSink(Protocol):
    """Where a job's progress goes (the worker's :class:`~.progress.ProgressSender`)."""

    def report(self, job: JobContext, value: float, message: str) -> None: ...


class CancelFlag(Protocol):
    """What tells a running job it was cancelled (its delivery)."""

    cancelled: bool


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
    _flag: CancelFlag | None = field(default=None, repr=False, compare=False)
    _sink: ProgressSink | None = field(default=None, repr=False, compare=False)
    enqueued_ms: int = 0
    """When the job was enqueued (the producer's clock, epoch ms; 0 if unknown): the envelope's
    ``enqueued_ms``, kept across retries."""

    @property
    def cancelled(self) -> bool:
        """Whether the job was cancelled while it runs (``job.cancel()``): a plain ``def`` task
        (run in a thread, which cannot be interrupted) checks it and returns early; an
        ``async def`` task is interrupted with ``CancelledError`` instead."""
        return self._flag is not None and self._flag.cancelled

    def is_cancelled(self) -> bool:
        """Same as :attr:`cancelled`."""
        return self.cancelled

    def report_progress(self, value: float, message: str = "") -> None:
        """Store the job's progress (``value`` from 0 to 1, and a message) on its record and
        tell whoever watches it (``job.watch()``, ``rq-stream result --watch``). Returns at
        once, from an ``async def`` task or a thread; updates sent close together may be
        merged (the latest wins), and the last one is written before the job's outcome."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(
                f"report_progress: value must be a number from 0 to 1, got {value!r}"
            )
        if not (0.0 <= value <= 1.0) or math.isnan(value):
            raise ConfigurationError(f"report_progress: value must be from 0 to 1, got {value}")
        if not isinstance(message, str):
            raise ConfigurationError(
                f"report_progress: message must be a str, got {type(message).__name__}"
            )
        if self._sink is None:
            raise ConfigurationError(
                f"report_progress is not available here (job {self.job_id}): only in a task run "
                "by a worker, not in a process=True subprocess"
            )
        self._sink.report(self, float(value), message)


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
