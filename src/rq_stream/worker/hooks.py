"""The application's middleware as one worker calls it (see :mod:`rq_stream.middleware`).

Built once when the worker starts: each hook keeps only the middleware that override it, and
the executor is given only the steps that have hooks (``on_start`` wraps ``Executor.call``,
``on_success`` and the failure hooks are attributes left ``None`` otherwise), so an app without
middleware runs jobs exactly as before, and a no-op hook is never awaited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rq_stream import codec
from rq_stream.backends.base import Delivery, Failure
from rq_stream.errors import EnvelopeError, RqStreamError, TaskFailed, UnknownTask
from rq_stream.middleware import HOOK_RAISED, Bound, Middleware, overriding, run_hooks
from rq_stream.worker.job_context import JobContext, WorkerInfo, _current

Step = Callable[[Any, Delivery], Awaitable[Any]]

_RAISED: dict[str, type[RqStreamError]] = {
    "EnvelopeError": EnvelopeError,
    "UnknownTask": UnknownTask,
}


class WorkerHooks:
    """The hooks of ``middleware`` for one worker; ``log`` is the worker's logger."""

    def __init__(self, middleware: Sequence[Middleware], log: Any, info: WorkerInfo) -> None:
        self._log = log
        self.info = info
        self._worker_start = overriding(middleware, "on_worker_start")
        self._worker_stop = overriding(middleware, "on_worker_stop")
        self.start = overriding(middleware, "on_start")
        self.success = overriding(middleware, "on_success")
        self._failure = overriding(middleware, "on_failure")
        self._retry = overriding(middleware, "on_retry")
        self._dead = overriding(middleware, "on_dead_letter")
        self.cancel = overriding(middleware, "on_cancel")
        self.any_failure = bool(self._failure or self._retry or self._dead)
        self._running = False

    # ------------------------------------------------------------------ worker
    async def worker_started(self) -> None:
        self._running = True
        await run_hooks(self._worker_start, "on_worker_start", self._log, self.info)

    async def worker_stopped(self) -> None:
        """Once per ``worker_started`` (the normal stop and the forced one both call it)."""
        if self._running:
            self._running = False
            await run_hooks(self._worker_stop, "on_worker_stop", self._log, self.info)

    # ------------------------------------------------------------------ jobs
    async def _run(self, hooks: tuple[Bound, ...], hook: str, job: JobContext, *args: Any) -> None:
        for owner, fn in hooks:
            try:
                await fn(job, *args)
            except Exception:
                where = {"job_id": job.job_id, "task": job.task, "queue": job.queue}
                self._log.exception(HOOK_RAISED, middleware=owner, hook=hook, **where)

    def wrap(self, call: Step) -> Step:
        """``call`` preceded by the ``on_start`` hooks (the job context is set by then)."""
        hooks, run = self.start, self._run

        async def call_after_on_start(task: Any, d: Delivery) -> Any:
            job = _current.get()
            assert job is not None
            await run(hooks, "on_start", job)
            return await call(task, d)

        return call_after_on_start

    async def succeeded(self, job: JobContext, result: Any, duration_s: float) -> None:
        await self._run(self.success, "on_success", job, result, duration_s)

    async def cancelled(self, job: JobContext) -> None:
        await self._run(self.cancel, "on_cancel", job)

    async def failed(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        """An attempt failed: before its retry or dead letter is written."""
        await self._run(self._failure, "on_failure", job, exc, duration_s)

    async def recorded(
        self, job: JobContext, exc: Exception, delay_ms: int | None, owned: bool
    ) -> None:
        """The failure was written: a retry in ``delay_ms``, or (None) a dead letter. Nothing
        fires when the script found the job no longer this worker's."""
        if not owned:
            return
        if delay_ms is not None:
            await self._run(self._retry, "on_retry", job, exc, delay_ms / 1000)
        else:
            await self._run(self._dead, "on_dead_letter", job, exc)

    async def dead_lettered(self, d: Delivery, failure: Failure) -> None:
        """A job this worker dead-lettered without an attempt failing (undecodable, unknown
        task, started too often by crashing workers, invalid result_ttl_s): ``exc`` is an
        :class:`EnvelopeError` or :class:`UnknownTask`, else a :class:`TaskFailed` whose
        ``exc_type`` is the dead letter's ("WorkerLost", "InvalidJob")."""
        if self._dead:
            job = self.context_of(d)
            kind = _RAISED.get(failure.exc_type)
            exc = (
                kind(failure.message)
                if kind
                else TaskFailed(job.job_id, failure.exc_type, failure.message, failure.traceback)
            )
            await self._run(self._dead, "on_dead_letter", job, exc)

    def context_of(self, d: Delivery) -> JobContext:
        env = d.envelope
        if env is None:
            try:
                env = codec.decode_envelope(d.raw)
            except EnvelopeError:
                env = None
        job_id = d.job_id or (env.job_id if env else codec.peek_job_id(d.raw) or "")
        task = env.task if env else ""
        return JobContext(job_id, task, d.queue, max(d.attempt, 0), self.info.name)


__all__ = ["WorkerHooks"]
