"""rq_stream: an asyncio task queue on Redis that loses no work."""

from .app import RqStream
from .errors import (
    ConnectionFailed,
    EnqueueError,
    JobNotFound,
    PayloadTooLarge,
    ResultTimeout,
    Retry,
    RqStreamError,
    TaskFailed,
)
from .job import Job, JobInfo, JobStatus
from .options import Backoff
from .task import Task
from .worker import Worker, current_job

__all__ = [
    "Backoff",
    "ConnectionFailed",
    "EnqueueError",
    "Job",
    "JobInfo",
    "JobNotFound",
    "JobStatus",
    "PayloadTooLarge",
    "ResultTimeout",
    "Retry",
    "RqStream",
    "RqStreamError",
    "Task",
    "TaskFailed",
    "Worker",
    "current_job",
]
__version__ = "0.1.0"
