"""Job handles: status, info and results awaited without polling."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, cast

from rq_stream import codec
from rq_stream.backends.jobs import JobRecords
from rq_stream.client.results import Results
from rq_stream.connect.connection import translated
from rq_stream.errors import JobCancelled, JobExpired, JobNotFound, ResultTimeout, TaskFailed
from rq_stream.options import DEFAULT_RESULT_TTL_S

if TYPE_CHECKING:
    from rq_stream.context import Context

R = TypeVar("R")


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    """Waiting for its delay (``delay_s`` / ``at``) to pass."""
    RUNNING = "running"
    RETRYING = "retrying"
    """Failed an attempt; waiting for its backoff before the next one."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Failed for good; the job sits in its queue's dead-letter stream."""
    CANCELLED = "cancelled"
    """Cancelled (``job.cancel()``) before it finished: it will not run (again), no result."""
    EXPIRED = "expired"
    """Not started before its deadline (``expires_s`` / ``expires_at``): not run."""
    NOT_FOUND = "not_found"
    """Never enqueued, or finished longer ago than its result TTL."""

    @property
    def finished(self) -> bool:
        return self in (
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
            JobStatus.EXPIRED,
        )


class Progress(NamedTuple):
    """A running job's latest ``report_progress``: ``value`` from 0 to 1 and a message."""

    value: float
    message: str

    @classmethod
    def decode(cls, raw: bytes) -> Progress:
        value, message = codec.loads(raw)
        return cls(float(value), str(message))


_CANCELLABLE = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.RETRYING, JobStatus.RUNNING}
_ENDED = {
    b"S": JobStatus.SUCCEEDED,
    b"F": JobStatus.FAILED,
    b"C": JobStatus.CANCELLED,
    b"X": JobStatus.EXPIRED,
}


def _ms_to_dt(value: bytes | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)


@dataclass(frozen=True, slots=True)
class JobInfo:
    job_id: str
    queue: str
    status: JobStatus
    task: str | None = None
    attempts: int = 0
    total_attempts: int = 0
    replays: int = 0
    worker: str | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: dict[str, str] | None = None
    """The last failure (``type``, ``message``, ``traceback``), also while retrying; for an
    expired job, why (``type`` ``JobExpired``)."""
    progress: Progress | None = None
    """The latest progress the task reported (``report_progress``), if any."""
    expires_at: datetime | None = None
    """The deadline by which it had to start (``expires_s`` / ``expires_at``), if any."""

    @classmethod
    def from_hash(cls, job_id: str, queue: str, h: dict[bytes, bytes]) -> JobInfo:
        if not h:
            return cls(job_id, queue, JobStatus.NOT_FOUND)
        err = h.get(b"err")
        return cls(
            job_id=job_id,
            queue=queue,
            status=JobStatus(h.get(b"s", b"queued").decode()),
            task=h[b"n"].decode() if b"n" in h else None,
            attempts=int(h.get(b"a", 0)),
            total_attempts=int(h.get(b"ta", 0)),
            replays=int(h.get(b"rp", 0)),
            worker=h[b"w"].decode() if b"w" in h else None,
            enqueued_at=_ms_to_dt(h.get(b"t")),
            started_at=_ms_to_dt(h.get(b"st")),
            finished_at=_ms_to_dt(h.get(b"ft")),
            error=cast("dict[str, str]", codec.loads(err)) if err else None,
            progress=Progress.decode(h[b"pg"]) if b"pg" in h else None,
            expires_at=_ms_to_dt(h.get(b"x")),
        )


def outcome(
    job_id: str, status: bytes, payload: bytes, loads: Callable[[bytes], Any] = codec.loads
) -> Any:
    """Turn a stored or published outcome into a value (``loads``: the app's serializer), or
    raise the task's failure (failure records are msgpack whatever the serializer)."""
    if status == b"S":
        return loads(payload)
    if status == b"C":
        raise JobCancelled(job_id)
    err = codec.loads(payload) if payload else {}
    if status == b"X":
        raise JobExpired(job_id, str(err.get("message", "not started before its deadline")))
    raise TaskFailed(
        job_id,
        str(err.get("type", "Error")),
        str(err.get("message", "")),
        str(err.get("traceback", "")),
    )


class Job(Generic[R]):
    """A handle on one enqueued job. Cheap to create; holds no connection."""

    __slots__ = ("_ctx", "_read", "id", "queue")

    def __init__(
        self, ctx: Context, job_id: str, queue: str, read: Callable[[bytes], Any] | None = None
    ) -> None:
        self._ctx = ctx
        self.id = job_id
        self.queue = queue
        self._read = read
        """How the result is read, when not with the app's serializer alone (a typed one)."""

    def for_id(self, job_id: str) -> Job[R]:
        """A handle on another job of the same task and queue."""
        return Job(self._ctx, job_id, self.queue, self._read)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, queue={self.queue!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and (other.id, other.queue) == (self.id, self.queue)

    def __hash__(self) -> int:
        return hash((self.id, self.queue))

    def _records(self) -> JobRecords:
        return JobRecords(self._ctx.redis, self._ctx.keys.queue(self.queue))

    async def info(self) -> JobInfo:
        with translated(self._ctx.url):
            h = await self._records().record(self.id)
        return JobInfo.from_hash(self.id, self.queue, h)

    async def status(self) -> JobStatus:
        with translated(self._ctx.url):
            raw = await self._records().status(self.id)
        return JobStatus.NOT_FOUND if raw is None else JobStatus(raw.decode())

    async def result(self, timeout_s: float | None = None) -> R:
        """Wait for the job to finish and return its value.

        Raises :class:`TaskFailed` if the task failed for good, :class:`JobCancelled` if it
        was cancelled, :class:`JobExpired` if it was not started before its deadline (and so
        never ran), :class:`ResultTimeout` (a ``TimeoutError``) after ``timeout_s``,
        :class:`JobNotFound` for an unknown job.
        Waits on a pub/sub notification, not by polling.
        """
        with translated(self._ctx.url):  # Redis out of reach: ConnectionFailed
            status, payload = await Results(self._ctx).wait(self, timeout_s)
        if status == b"":
            raise ResultTimeout(
                f"job {self.id} (queue {self.queue!r}) did not finish within {timeout_s} s"
            )
        if status == b"N":
            raise JobNotFound(
                f"no job {self.id!r} in queue {self.queue!r}: never enqueued there, or its "
                "result expired (result_ttl_s)"
            )
        if status == b"C":
            raise JobCancelled(self.id, self.queue)
        return cast(R, outcome(self.id, status, payload, self._read or self._ctx.payloads.loads))

    async def cancel(self) -> bool:
        """Cancel the job: True if it was cancelled now (queued, scheduled or retrying: it will
        not run; running: its worker stops it), False if it had finished already (succeeded,
        failed, cancelled, expired: nothing changed). Raises :class:`JobNotFound` for an
        unknown job."""
        k = self._ctx.keys.queue(self.queue)
        args = [self.id, DEFAULT_RESULT_TTL_S, k.done_channel(""), k.cancel_channel]
        with translated(self._ctx.url):
            was = await self._ctx.scripts.run("job_cancel", [k.job(self.id), k.delayed], args)
        if not was:
            raise JobNotFound(
                f"cannot cancel job {self.id!r}: no such job in queue {self.queue!r} (never "
                "enqueued there, or its record expired)"
            )
        return JobStatus(was.decode()) in _CANCELLABLE

    async def progress(self) -> Progress | None:
        """The latest progress the task reported (``report_progress``), or None."""
        with translated(self._ctx.url):
            raw = await self._ctx.redis.hget(self._ctx.keys.queue(self.queue).job(self.id), "pg")
        return None if raw is None else Progress.decode(raw)

    async def watch(self) -> AsyncIterator[Progress | JobStatus]:
        """Each progress update as the task reports it (the latest stored one first), then the
        job's final status (succeeded, failed, cancelled, expired), without polling. Raises
        :class:`JobNotFound` for an unknown job."""
        with translated(self._ctx.url):
            async for code, payload in Results(self._ctx).watch(self):
                if code == b"P":
                    yield Progress.decode(payload)
                elif code == b"N":
                    raise JobNotFound(f"no job {self.id!r} in queue {self.queue!r} to watch")
                else:
                    yield _ENDED.get(code) or await self.status()
