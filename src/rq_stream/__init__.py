"""rq_stream: an asyncio task queue on Redis that loses no work."""

from rq_stream.client.app import RqStream
from rq_stream.client.job import Job, JobInfo, JobStatus
from rq_stream.client.task import Task
from rq_stream.errors import (
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
from rq_stream.options import Backoff
from rq_stream.patterns.locks import LockNotAcquired
from rq_stream.patterns.ratelimit import RateLimited
from rq_stream.serializers import JsonSerializer, MsgpackSerializer, PydanticSerializer, Serializer
from rq_stream.worker import JobContext, Worker, current_job

__all__ = [
    "Backoff",
    "ConnectionFailed",
    "EnqueueError",
    "Job",
    "JobContext",
    "JobInfo",
    "JobNotFound",
    "JobStatus",
    "JsonSerializer",
    "LockLost",
    "LockNotAcquired",
    "MsgpackSerializer",
    "PayloadTooLarge",
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
    "Task",
    "TaskFailed",
    "UnknownTask",
    "Worker",
    "current_job",
]
__version__ = "0.1.0"
