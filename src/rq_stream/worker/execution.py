"""Running one job: arguments, timeout, thread offload for plain functions (a subprocess for
``process=True``, see :mod:`.processes`), and what becomes of the attempt (completion, retry,
dead letter, or hand-back when the worker stops)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from anyio.lowlevel import checkpoint

from rq_stream import logs
from rq_stream.backends.base import Backend, Completion, Delivery
from rq_stream.client.task import Task
from rq_stream.errors import ConcurrencyKeyError, Retry, SerializationError
from rq_stream.worker import processes
from rq_stream.worker.admission import RateGate
from rq_stream.worker.channel import Channel, Outbox
from rq_stream.worker.hooks import WorkerHooks
from rq_stream.worker.host import WorkerApp
from rq_stream.worker.job_context import JobContext, _current
from rq_stream.worker.keylimit import SlotGate
from rq_stream.worker.policy import ArgumentError, ResultNotSerializable, TaskTimeout, decide
from rq_stream.worker.progress import ProgressSender
from rq_stream.worker.resilience import Outage
from rq_stream.worker.stats import WorkerStats


def _ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


class _LeaseLost(Exception):
    """A process=True call was stopped because this worker no longer owns its job."""


class _JobCancelled(Exception):
    """The job was cancelled before or while its task ran (``Executor.cancel``)."""


Release = Callable[[Delivery], None]
"""A job left this worker (finished, retried, dead-lettered or handed back)."""
RunStep = Callable[[Task[Any, Any], Delivery], Awaitable[Any]]
"""The "run" step of the pipeline: a job's return value (or its exception). Middleware and
dependency injection wrap ``Executor.call``: ``executor.call = wrapped(executor.call)``."""


class Executor:
    """Runs each job through its steps: look up the task, rate-limit admission, job context,
    ``call`` (check the arguments, run with the timeout), encode the result, and on failure
    decide retry or dead letter.

    Its collaborators are explicit: ``backends`` (by queue) for the failure outcomes, ``stats``
    to count them, ``release`` when a job leaves the worker, ``ran`` when a slot frees,
    ``wake_delayed`` after a retry is scheduled; ``stopping`` set when the worker stops."""

    def __init__(
        self,
        app: WorkerApp,
        backends: Mapping[str, Backend],
        stats: WorkerStats,
        gate: RateGate,
        slots: SlotGate,
        *,
        name: str,
        log: Any,
        concurrency: int,
        stopping: anyio.Event,
        release: Release,
        ran: Callable[[float], None],
        wake_delayed: Callable[[str], None],
    ) -> None:
        self._app = app
        self._tasks = app.tasks
        self._backends = backends
        self._stats = stats
        self._gate = gate
        self.slots = slots  # concurrency=N slots (the lease renewer renews them too)
        self._name = name
        self.log = log
        self._stopping = stopping
        self._release = release
        self._ran = ran
        self._wake_delayed = wake_delayed
        self.running = 0
        """Jobs an executor is running right now."""
        self.call: RunStep = self._invoke
        self.state: Any = None
        """The lifespan's state, which every job's context carries (set at start-up)."""
        self.on_success: Callable[[JobContext, Any, float], Awaitable[None]] | None = None
        """Middleware ``on_success`` hooks (``call`` wrapped for ``on_start``, ``failure_hooks``):
        set at start-up only if some middleware overrides them (see :mod:`.hooks`)."""
        self.failure_hooks: WorkerHooks | None = None
        self.cancel_hooks: WorkerHooks | None = None
        """Set at start-up only if some middleware overrides ``on_cancel``."""
        self._dumps = app.payloads.dumps  # the app's serializer (codec.dumps by default)
        self._limiter = anyio.CapacityLimiter(min(concurrency, 200))
        self._processes = anyio.CapacityLimiter(min(concurrency, os.cpu_count() or 2))
        self._refs: dict[str, processes.TaskRef] = {}
        self._children: dict[tuple[str, int], anyio.CancelScope] = {}
        """The running subprocess calls, by (job_id, attempt): killed when the lease is lost."""
        self.progress = ProgressSender(app.scripts, app.keys, log)
        """Sends the tasks' ``report_progress`` (its ``run`` is started by the worker)."""
        self._trace = False
        """Emit the per-job DEBUG events ("job started", "job succeeded"): decided once at
        start-up from the logger's level, so that at INFO no logger is called per job."""

    async def loop(self, jobs: Channel[Delivery], done: Outbox[Completion]) -> None:
        """Run jobs until the channel closes. Cancelled (grace over, forced exit) mid-job, the
        job is handed back before the cancellation goes on."""
        self._trace = logs.debug_enabled(self.log)
        ran = 0
        stopping, done_with = self._stopping, self._ran
        clock = time.perf_counter
        while (d := await jobs.get()) is not None:
            self.running += 1
            t0 = clock()
            try:
                if stopping.is_set():
                    await self.hand_back(d)
                    continue
                await self.run_one(d, done, t0)
            except anyio.get_cancelled_exc_class():
                await self.hand_back(d)
                raise
            finally:
                self.running -= 1
                done_with(clock() - t0)
            ran += 1
            if ran % 32 == 0:  # jobs that never await must not starve the fetcher and completer
                await checkpoint()

    async def run_one(self, d: Delivery, done: Outbox[Completion], t0: float | None = None) -> None:
        """Run one job to its outcome; ``t0`` (perf_counter) is when its executor took it."""
        assert d.envelope is not None
        task = self._tasks[d.envelope.task]  # decoded and looked up by the intake: it is there
        # A rate limit, a concurrency limit: over it, the job is deferred, not run.
        if task.gated and not await self._admit(task, d):
            return
        job = JobContext(d.job_id, task.name, d.queue, d.attempt, self._name, self.state, d,
                         self.progress, d.envelope.enqueued_ms)  # fmt: skip
        token = _current.set(job)
        if self._trace:
            self._log(task, d).debug("job started")
        if t0 is None:
            t0 = time.perf_counter()
        try:
            value = await self._run_call(task, d)
            if self.progress.busy:  # some report unsent: this job's goes before its outcome
                await self.progress.flush(d.queue, d.job_id)
            result = self._dumps(value)
            if self.on_success is not None:  # middleware: before the ack (at-least-once)
                await self.on_success(job, value, time.perf_counter() - t0)
            done.put(Completion(d, result))  # the completer acks in batches
            if self._trace:
                self._log(task, d).debug("job succeeded", duration_ms=_ms_since(t0))
            return
        except _LeaseLost:
            self._release(d)  # not ours any more: nothing to write, the new owner runs it
            return
        except _JobCancelled:
            await self._cancelled(d, done, job)
            return
        except SerializationError as exc:
            failure: Exception = ResultNotSerializable(f"the return value of {task.name!r}: {exc}")
        except Exception as exc:
            failure = exc
        finally:
            _current.reset(token)
        if d.cancelled:  # failed after its cancel (a thread that saw the flag): not retried
            await self._cancelled(d, done, job)
            return
        await self._failed(task, d, failure, _ms_since(t0), job)

    async def _admit(self, task: Task[Any, Any], d: Delivery) -> bool:
        """True: run the job (under its rate limit; holding a slot of its ``concurrency``,
        freed when its call ends). False: it waits (deferred, not an attempt), or its
        ``concurrency_key`` failed (dead-lettered, never retried)."""
        if task.settings.rate_limit is not None and not await self._gate.admit(task, d):
            return False
        if task.settings.concurrency is None:
            return True
        try:
            return await self.slots.acquire(task, d)
        except ConcurrencyKeyError as exc:
            job = JobContext(d.job_id, task.name, d.queue, d.attempt, self._name, self.state, d,
                             self.progress)  # fmt: skip
            await self._failed(task, d, exc, 0.0, job)
            return False

    async def _run_call(self, task: Task[Any, Any], d: Delivery) -> Any:
        """``call``, which ``cancel`` may interrupt (then :class:`_JobCancelled`). A slot of
        the task's ``concurrency`` frees as soon as the call ends, however it ends."""
        d.runner = asyncio.current_task()
        try:
            if d.cancelled:
                raise _JobCancelled
            value = await self.call(task, d)
        except asyncio.CancelledError:
            runner, d.runner = d.runner, None
            if not d.cancelled or runner is None:
                raise
            uncancel = getattr(runner, "uncancel", None)  # Python 3.11+
            if uncancel is not None and uncancel() > 0:
                raise  # cancelled by something else too (the worker stopping)
            raise _JobCancelled from None
        finally:
            d.runner = None
            if d.slot is not None:
                await self.slots.free(d)  # shielded
        if d.cancelled:  # a thread that returned after its cancel: cancelled all the same
            raise _JobCancelled
        return value

    async def _cancelled(self, d: Delivery, done: Outbox[Completion], job: JobContext) -> None:
        if self.cancel_hooks is not None:
            await self.cancel_hooks.cancelled(job)
        done.put(Completion(d, b""))  # the record says cancelled: acked as cancelled

    def cancel(self, d: Delivery) -> None:
        """``d`` was cancelled (job_cancel.lua marked its record): a job not running yet is
        not run; an ``async def`` task is interrupted (``CancelledError``), a ``process=True``
        task's subprocess killed; a thread sees ``current_job().cancelled``."""
        if d.cancelled:
            return
        d.cancelled = True
        self.log.info("job cancelled", job_id=d.job_id, queue=d.queue)
        task = self._tasks.get(d.envelope.task) if d.envelope is not None else None
        if d.runner is not None and task is not None and (task.is_async or task.settings.process):
            d.runner.cancel()

    def _log(self, task: Task[Any, Any], d: Delivery) -> Any:
        return self.log.bind(job_id=d.job_id, task=task.name, queue=d.queue, attempt=d.attempt)

    async def _invoke(self, task: Task[Any, Any], d: Delivery) -> Any:
        """The default ``call``: check the arguments, run the task within its timeout."""
        env = d.envelope
        assert env is not None
        task.check_arguments(env.args, env.kwargs, ArgumentError)
        timeout_s = task.settings.timeout_s
        if timeout_s is None:
            return await self._call(task, env.args, env.kwargs)
        with anyio.move_on_after(timeout_s):
            return await self._call(task, env.args, env.kwargs)
        raise TaskTimeout(f"task {task.name!r} ran longer than its timeout_s={timeout_s}")

    async def _call(self, task: Task[Any, Any], args: Any, kwargs: Any) -> Any:
        if task.is_async:
            fn: Callable[..., Awaitable[Any]] = task.fn
            return await fn(*args, **kwargs)
        if task.settings.process:
            return await self._call_in_process(task, args, kwargs)
        return await anyio.to_thread.run_sync(
            functools.partial(task.fn, *args, **kwargs),
            limiter=self._limiter,
            abandon_on_cancel=True,
        )

    async def _call_in_process(self, task: Task[Any, Any], args: Any, kwargs: Any) -> Any:
        ref = self._refs.get(task.name)
        if ref is None:
            ref = self._refs[task.name] = processes.reference(task.name, task.fn)
        ctx = _current.get()
        assert ctx is not None
        key = (ctx.job_id, ctx.attempt)
        with anyio.CancelScope() as scope:
            self._children[key] = scope
            try:
                return await processes.run(ref, ctx, args, kwargs, self._processes)
            finally:
                del self._children[key]
        raise _LeaseLost  # lease_lost() cancelled the scope: the subprocess was killed

    async def _failed(
        self, task: Task[Any, Any], d: Delivery, exc: Exception, duration_ms: float, job: JobContext
    ) -> None:
        decision = decide(task.settings, d.attempt, exc)
        hooks = self.failure_hooks
        if hooks is not None:
            await hooks.failed(job, exc, duration_ms / 1000)
        log = self._log(task, d).bind(duration_ms=duration_ms)
        backend = self._backends[d.queue]
        outage = Outage("recording a failure", queue=d.queue)
        while True:
            try:
                if decision.retry:
                    owned = await backend.retry(d, decision.delay_ms, decision.failure)
                else:
                    owned = await backend.dead_letter(d, decision.failure, self._name)
                break
            except outage.errors as err:
                await outage.failed(err)
        outage.recovered()
        if hooks is not None:
            await hooks.recorded(job, exc, decision.delay_ms if decision.retry else None, owned)
        error = f"{decision.failure.exc_type}: {decision.failure.message}"
        if not owned:
            log.warning("job failed but was no longer owned by this worker", error=error)
            await self.lease_lost(d.queue, [d])
        elif decision.retry:
            self._stats.retried += 1
            self._wake_delayed(d.queue)
            if isinstance(exc, Retry):
                log.info("job asked to be retried", reason=str(exc), retry_in_ms=decision.delay_ms)
            else:
                log.warning("job failed; will retry", error=error, retry_in_ms=decision.delay_ms)
        else:
            self._stats.failed += 1
            event = (
                "job asked to be retried but has no attempts left; moved to the dead-letter stream"
                if isinstance(exc, Retry)
                else "job failed for good; moved to the dead-letter stream"
            )
            log.error(event, error=error, exception=decision.failure.traceback)
        self._release(d)

    async def lease_lost(self, queue: str, stale: list[Delivery]) -> None:
        """Running jobs whose lease expired while this worker still ran them (it stalled: a
        call holding the GIL or blocking the loop, or Redis out of reach longer than the
        lease). They go on here (a thread cannot be stopped) but their outcome is refused by
        the attempt fence; the job record counts the loss, so a WorkerLost dead letter says
        the worker was alive. A ``process=True`` task's subprocess is killed (the new owner is
        running the job; nothing is written for this attempt)."""
        for d in stale:
            scope = self._children.get((d.job_id, d.attempt))
            if scope is not None:
                scope.cancel()
                self.log.warning(
                    "killed the subprocess of a job whose lease was lost",
                    job_id=d.job_id,
                    queue=queue,
                    attempt=d.attempt,
                )
        prefix = self._app.keys.queue(queue).job_prefix
        with contextlib.suppress(*Outage.errors):
            args = [x for d in stale for x in (d.job_id, d.attempt)]
            await self._app.scripts.run("job_lost", (prefix,), args)

    async def hand_back(self, d: Delivery) -> None:
        """Return an unfinished job to its queue at once (never acked as done)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                await self._backends[d.queue].hand_back([d])
                self._stats.handed_back += 1
                self.log.info("job handed back to the queue", job_id=d.job_id, queue=d.queue)
            except Outage.errors as exc:
                self.log.warning(
                    "could not hand the job back; it will be reclaimed after the lease",
                    job_id=d.job_id,
                    queue=d.queue,
                    error=str(exc),
                )
        self._release(d)


__all__ = ["Executor", "TaskTimeout"]
