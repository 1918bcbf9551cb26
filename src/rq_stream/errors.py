"""Every error rq_stream raises derives from :class:`RqStreamError`."""

from __future__ import annotations

from rq_stream import validate


class RqStreamError(Exception):
    """Root of all rq_stream errors."""


class ConfigurationError(RqStreamError):
    """The application or worker was configured in a way that cannot work."""


class LifespanFailed(RqStreamError):
    """The app's lifespan (``@app.lifespan``) raised as a worker started: the worker took no job
    and stopped (the CLI exits with 78 and the supervisor does not restart it)."""


class ConnectionFailed(RqStreamError):
    """Redis could not be reached, or the URL is not a Redis URL."""


class IncompleteInstallation(RqStreamError):
    """A file the package ships (a Lua script) is missing: rq_stream is not fully installed.

    Not a :class:`ConnectionFailed` and not an ``OSError``, so nothing retries it as an outage.
    """


class RedisOutOfMemory(RqStreamError):
    """Redis refused a write because it reached ``maxmemory`` (``noeviction``).

    The job was *not* enqueued: nothing is dropped silently.
    """


class EnqueueError(RqStreamError):
    """A job could not be enqueued (bad arguments, payload too large, ...)."""


class PayloadTooLarge(EnqueueError):
    """The encoded job is larger than ``max_payload_bytes``."""


class ReplicationTimeout(EnqueueError):
    """With ``wait_replicas``: fewer replicas than asked acknowledged an enqueue in time.

    The master has the job, but a failover now could lose it; enqueueing again with the same
    ``job_id`` is safe (idempotent).
    """


class SerializationError(EnqueueError):
    """A value cannot be encoded by the app's serializer (msgpack by default, even with
    rq_stream's extension types); the message names the argument, its type and the serializer."""


class EnvelopeError(RqStreamError):
    """A payload read from Redis is not a valid rq_stream job envelope for the app's serializer
    (or a result it cannot read, or one that does not fit the task's return annotation)."""


class UnknownTask(RqStreamError):
    """No task with that name is registered on this application."""


class JobNotFound(RqStreamError):
    """No job with that id exists (never enqueued, or its result has expired)."""


class JobCancelled(RqStreamError):
    """The job was cancelled (``job.cancel()``, ``app.cancel``, ``rq-stream cancel``): it has
    no result."""

    def __init__(self, job_id: str, queue: str | None = None) -> None:
        where = "" if queue is None else f" (queue {queue!r})"
        super().__init__(f"job {job_id}{where} was cancelled: it has no result")
        self.job_id = job_id
        self.queue = queue


class ResultTimeout(RqStreamError, TimeoutError):
    """``Job.result(timeout_s=...)`` gave up waiting."""


class TaskFailed(RqStreamError):
    """The task raised (on its last attempt); carries the remote error."""

    def __init__(self, job_id: str, exc_type: str, message: str, traceback: str) -> None:
        super().__init__(f"job {job_id} failed: {exc_type}: {message}")
        self.job_id = job_id
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback


class JobExpired(RqStreamError):
    """The job was not started before its deadline (``expires_s`` / ``expires_at``): it was not
    run, and never will be."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"job {job_id} expired: {reason}")
        self.job_id = job_id
        self.reason = reason


class ConcurrencyKeyError(EnqueueError):
    """A task's ``concurrency_key`` raised or returned something other than a non-empty str:
    the job is not enqueued (at the worker: it is dead-lettered, never retried)."""


class LockLost(RqStreamError):
    """A distributed lock expired or was taken by someone else while it was held."""


class Retry(Exception):
    """Raise from a task to run it again after ``delay_s`` (counts as an attempt)."""

    def __init__(self, delay_s: float | None = None, reason: str = "") -> None:
        problem = None if delay_s is None else validate.seconds("delay_s", delay_s, positive=False)
        if problem:
            raise ConfigurationError(f"Retry: {problem}")
        super().__init__(reason or f"retry requested (delay_s={delay_s})")
        self.delay_s = delay_s
