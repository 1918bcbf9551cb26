"""rq_stream: an asyncio task queue on Redis that loses no work."""

from rq_stream.client.app import RqStream
from rq_stream.client.job import Job, JobInfo, JobStatus, Progress
from rq_stream.client.task import Task
from rq_stream.dependencies import Depends, worker_state
from rq_stream.errors import (
    ConcurrencyKeyError,
    ConnectionFailed,
    EnqueueError,
    JobCancelled,
    JobExpired,
    JobNotFound,
    LifespanFailed,
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
from rq_stream.middleware import EnqueueInfo, Middleware
from rq_stream.options import Backoff
from rq_stream.patterns.locks import LockNotAcquired
from rq_stream.patterns.ratelimit import RateLimited
from rq_stream.serializers import JsonSerializer, MsgpackSerializer, PydanticSerializer, Serializer
from rq_stream.sync import SyncClient, SyncJob
from rq_stream.worker import JobContext, Worker, WorkerInfo, current_job

__all__ = [
    "Backoff",
    "ConcurrencyKeyError",
    "ConnectionFailed",
    "Depends",
    "EnqueueError",
    "EnqueueInfo",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobExpired",
    "JobInfo",
    "JobNotFound",
    "JobStatus",
    "JsonSerializer",
    "LifespanFailed",
    "LockLost",
    "LockNotAcquired",
    "Middleware",
    "MsgpackSerializer",
    "PayloadTooLarge",
    "Progress",
    "PydanticSerializer",
    "RateLimited",
    "RedisOutOfMemory",
    "ReplicationTimeout",
    "ResultTimeout",
    "Retry",
    "RqStream",
    "RqStreamError",
    "SerializationError",
    "Serializer",
    "SyncClient",
    "SyncJob",
    "Task",
    "TaskFailed",
    "UnknownTask",
    "Worker",
    "WorkerInfo",
    "current_job",
    "worker_state",
]
__version__ = "0.1.0"
