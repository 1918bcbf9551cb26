"""rq_stream: an asyncio task queue on Redis that loses no work."""

from .app import RqStream
from .errors import (
    ConnectionFailed,
    EnqueueError,
    JobNotFound,
    LockLost,
    PayloadTooLarge,
    RedisOutOfMemory,
    ReplicationTimeout,
    ResultTimeout,
    Retry,
    RqStreamError,
    SerializationError,
    TaskFailed,
    UnknownTask,
)
from .job import Job, JobInfo, JobStatus
from .locks import LockNotAcquired
from .options import Backoff
from .ratelimit import RateLimited
from .task import Task
from .worker import JobContext, Worker, current_job

__all__ = [
    "Backoff",
    "ConnectionFailed",
    "EnqueueError",
    "Job",
    "JobContext",
    "JobInfo",
    "JobNotFound",
    "JobStatus",
    "LockLost",
    "LockNotAcquired",
    "PayloadTooLarge",
    "RateLimited",
    "RedisOutOfMemory",
    "ReplicationTimeout",
    "ResultTimeout",
    "Retry",
    "RqStream",
    "RqStreamError",
    "SerializationError",
    "Task",
    "TaskFailed",
    "UnknownTask",
    "Worker",
    "current_job",
]
__version__ = "0.1.0"
