"""Blocking job handles for code without an event loop (``rq_stream.sync``): the same calls as
:class:`~rq_stream.client.job.Job`, each run on the sync client's own loop thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from rq_stream.client.job import Job, JobInfo, JobStatus, Progress

R = TypeVar("R")
T = TypeVar("T")


class JobRunner(Protocol):
    """What a blocking handle needs: run ``fn(job)`` on the loop thread, wait for its value."""

    def run_job(self, job_id: str, queue: str, fn: Callable[[Job[Any]], Awaitable[T]]) -> T: ...


class SyncJob(Generic[R]):
    """A handle on one enqueued job whose methods block (no ``await``).

    ``job.result(timeout_s=5)``, ``job.status()``, ``job.info()``, ``job.cancel()``,
    ``job.progress()``; ``id`` and ``queue`` name the
    job, so async code can look it up with ``app.job(job.id, job.queue)``.
    """

    __slots__ = ("_runner", "id", "queue")

    def __init__(self, runner: JobRunner, job_id: str, queue: str) -> None:
        self._runner = runner
        self.id = job_id
        self.queue = queue

    def __repr__(self) -> str:
        return f"SyncJob(id={self.id!r}, queue={self.queue!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SyncJob) and (other.id, other.queue) == (self.id, self.queue)

    def __hash__(self) -> int:
        return hash((self.id, self.queue))

    def result(self, timeout_s: float | None = None) -> R:
        """Block until the job finishes and return its value (see ``Job.result``): raises
        :class:`~rq_stream.TaskFailed`, :class:`~rq_stream.ResultTimeout` after ``timeout_s``,
        :class:`~rq_stream.JobNotFound`."""
        value: R = self._runner.run_job(self.id, self.queue, lambda j: j.result(timeout_s))
        return value

    def status(self) -> JobStatus:
        return self._runner.run_job(self.id, self.queue, lambda j: j.status())

    def info(self) -> JobInfo:
        return self._runner.run_job(self.id, self.queue, lambda j: j.info())

    def cancel(self) -> bool:
        """See ``Job.cancel``: True if cancelled now, False if it had finished."""
        return self._runner.run_job(self.id, self.queue, lambda j: j.cancel())

    def progress(self) -> Progress | None:
        return self._runner.run_job(self.id, self.queue, lambda j: j.progress())


__all__ = ["JobRunner", "SyncJob"]
