"""Middleware: code that runs around every job (error reporting, auditing, tracing, metrics).

Subclass :class:`Middleware`, override the hooks you need (each an ``async def``), and register
an instance: ``RqStream(..., middleware=[Reporter()])`` or ``app.add_middleware(Reporter())``.
Hooks run in registration order. The hooks a subclass does not override are never called: the
worker (at start-up) and the producer (at its first enqueue) note once which middleware override
which hook, so a no-op hook costs nothing.

A hook that raises is logged (naming the middleware class, the hook and the job) and changes
nothing: the job still completes, retries or is dead-lettered as it would have.

When each hook fires, per attempt: ``on_start`` before the task runs; then ``on_success`` (the
task returned and its result was encoded) or ``on_failure`` (it raised, timed out, or returned
what cannot be encoded). These fire *before* the attempt's outcome is written to Redis, so a
worker killed in between runs the job again and fires them again: with at-least-once delivery,
``on_start``/``on_success``/``on_failure`` can fire more than once for one job, never zero
times for an attempt that ended. ``on_cancel`` replaces ``on_success``/``on_failure`` for an
attempt cancelled while it ran. ``on_retry`` and ``on_dead_letter`` fire *after* the retry or
the dead letter was written, and only by the worker that wrote it (not when another worker had
taken the job over). See the README's "Middleware" section for the full contract.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rq_stream.errors import ConfigurationError
from rq_stream.options import JobOptions

if TYPE_CHECKING:
    from rq_stream.worker.job_context import JobContext, WorkerInfo

HOOKS = (
    "before_enqueue",
    "on_worker_start",
    "on_worker_stop",
    "on_start",
    "on_success",
    "on_failure",
    "on_retry",
    "on_dead_letter",
    "on_cancel",
)

HOOK_RAISED = "middleware hook raised; carrying on as if it had returned"
"""The event logged (at ERROR, with the traceback) when a hook raises."""

Hook = Callable[..., Awaitable[None]]
Bound = tuple[str, Hook]
"""A middleware's class name (for the logs) and its bound hook."""


@dataclass(frozen=True, slots=True)
class EnqueueInfo:
    """What ``before_enqueue`` sees of one call about to be enqueued (read-only: the hook
    observes the call, it cannot change or veto it). ``job_id`` is final: the id the job will
    have, generated now unless the call gave one."""

    task: str
    queue: str
    job_id: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    options: JobOptions
    """The call's job options (``delay_s``, ``at``, ``result_ttl_s``...), as given."""


class Middleware:
    """Base class of middleware: every hook is a no-op ``async def``; override the ones you
    need. ``job`` is the job's :class:`~rq_stream.JobContext` (``current_job()`` is set too)."""

    async def before_enqueue(self, job: EnqueueInfo) -> None:
        """Producer side, once per call, after its arguments were checked and before it is
        encoded and sent (it may still fail to enqueue after this: payload too large, Redis
        down)."""

    async def on_worker_start(self, worker: WorkerInfo) -> None:
        """The worker process is connected and ready, before its first job."""

    async def on_worker_stop(self, worker: WorkerInfo) -> None:
        """After the worker's last job was acked or handed back."""

    async def on_start(self, job: JobContext) -> None:
        """An attempt is about to run (after rate-limit admission)."""

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        """The attempt returned ``result`` (encoded fine); called before it is acked."""

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        """The attempt failed with ``exc`` (every failed attempt, retried or not); called
        before the retry or dead letter is written."""

    async def on_retry(self, job: JobContext, exc: Exception, delay_s: float) -> None:
        """After ``on_failure``: the next attempt was scheduled in ``delay_s``."""

    async def on_dead_letter(self, job: JobContext, exc: Exception) -> None:
        """The job was moved to the dead-letter stream (after ``on_failure`` when an attempt
        failed; alone for jobs the worker could not run: see the README)."""

    async def on_cancel(self, job: JobContext) -> None:
        """The job was cancelled (``job.cancel()``) while this worker held it: before it ran
        (it will not), or while it ran (an ``async def`` task was interrupted, a thread's task
        returned after seeing ``job.cancelled``); called before it is acked as cancelled. A
        job cancelled while it waited in its queue fires nothing: no worker held it."""


def check(middleware: object) -> Middleware:
    """``middleware`` if it is a usable :class:`Middleware` instance; else a clear error."""
    if isinstance(middleware, type) and issubclass(middleware, Middleware):
        raise ConfigurationError(
            f"middleware must be an instance: pass {middleware.__name__}(), "
            f"not the class {middleware.__name__}"
        )
    if not isinstance(middleware, Middleware):
        raise ConfigurationError(
            f"middleware must subclass rq_stream.Middleware, got {middleware!r}"
        )
    for name in HOOKS:
        hook = getattr(type(middleware), name)
        if hook is not getattr(Middleware, name) and not inspect.iscoroutinefunction(hook):
            raise ConfigurationError(
                f"{type(middleware).__name__}.{name} must be an async def (middleware hooks "
                "are awaited)"
            )
    return middleware


def overriding(middleware: Sequence[Middleware], hook: str) -> tuple[Bound, ...]:
    """The bound ``hook`` of each middleware whose class overrides it, in order."""
    base = getattr(Middleware, hook)
    return tuple(
        (type(m).__name__, getattr(m, hook))
        for m in middleware
        if getattr(type(m), hook) is not base
    )


async def run_hooks(
    hooks: tuple[Bound, ...], hook: str, log: Any, *args: Any, **where: Any
) -> None:
    """Await each hook with ``args`` in turn; one that raises is logged (with ``where``: the
    job it was about) and the others still run."""
    for owner, fn in hooks:
        try:
            await fn(*args)
        except Exception:
            log.exception(HOOK_RAISED, middleware=owner, hook=hook, **where)


__all__ = ["HOOKS", "HOOK_RAISED", "EnqueueInfo", "Middleware", "check", "overriding", "run_hooks"]
