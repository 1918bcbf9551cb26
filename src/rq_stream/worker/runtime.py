"""The worker runtime: one anyio task group with, per queue, a fetcher, a reclaimer and a delayed
mover feeding a bounded memory stream read by ``concurrency`` executors; a completer acking in
batches; a lease renewer and a heartbeat beside them. The parts live beside this module:
:mod:`.intake` (fetch, take, reclaim, run-alone), :mod:`.upkeep` (renewer, heartbeat, delayed
mover), :mod:`.execution` (one job's steps), :mod:`.state` (slot accounting); the app is seen
only through :class:`~rq_stream.worker.host.WorkerApp`.

A job's attempt is counted when it is taken and started, in one round trip: the fetcher takes
as many jobs as executors are free plus a prefetch (by default the jobs they would start within
``PREFETCH_HORIZON_S``, none for long jobs), so a worker never hoards jobs other workers could
start, and a crash charges an attempt to jobs that were running or about to. A job whose last
allowed attempt follows a crash of the worker running it runs alone in its worker (see
``Intake._isolation_loop``): a poison job cannot take innocent jobs with it.

Stopping (SIGTERM/SIGINT, ``request_stop()``, ``run()`` cancelled, or burst mode running dry):
intake stops, and anything this consumer holds in Redis that the runtime never received (a
fetch or take whose reply was cut off) is handed back at once; jobs not yet running are handed
back at once, running jobs get ``grace_s`` to finish, the rest are cancelled and handed back;
finished jobs are acked before ``run()`` returns. A second signal cancels everything at once:
whatever was not acked stays pending and is reclaimed after the lease.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import uuid
from collections.abc import Sequence
from typing import Any, Generic

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from rq_stream import logs
from rq_stream.backends.base import Backend, Completion, Delivery
from rq_stream.backends.presence import Presence
from rq_stream.connect import connection
from rq_stream.errors import ConfigurationError
from rq_stream.worker.admission import RateGate
from rq_stream.worker.channel import Channel, Outbox
from rq_stream.worker.completer import Completer
from rq_stream.worker.execution import Executor
from rq_stream.worker.hooks import WorkerHooks
from rq_stream.worker.host import WorkerApp
from rq_stream.worker.injection import install as install_injection
from rq_stream.worker.intake import Intake
from rq_stream.worker.job_context import WorkerInfo
from rq_stream.worker.keylimit import SlotGate
from rq_stream.worker.lifespan import WorkerScope, failure_unwrapped
from rq_stream.worker.resilience import Outage
from rq_stream.worker.stats import WorkerStats
from rq_stream.worker.upkeep import Upkeep

if sys.version_info >= (3, 13):
    from typing import TypeVar
else:  # a dependency of anyio's below 3.15
    from typing_extensions import TypeVar

log = structlog.get_logger("rq_stream.worker")

AppT = TypeVar("AppT", bound=WorkerApp, default=Any)
"""The application a worker runs jobs for (``RqStream``, or anything shaped like it): the
worker uses it only through :class:`WorkerApp`, and ``worker.app`` keeps its own type."""


def _consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker(Intake, Upkeep, Generic[AppT]):
    """Runs jobs from ``queues`` (default: every queue a registered task uses).

    ``Worker(app, queues=["default"], concurrency=100, burst=True).run()`` returns once the
    queues are empty (backlog, delayed) and nothing is in flight.
    """

    def __init__(
        self,
        app: AppT,
        queues: Sequence[str] | None = None,
        concurrency: int = 10,
        burst: bool = False,
        *,
        grace_s: float = 25.0,
        prefetch: int | None = None,
        lease_s: float | None = None,
        reclaim_interval_s: float | None = None,
        heartbeat_s: float = 5.0,
        delayed_max_sleep_s: float = 1.0,
        handle_signals: bool = True,
        name: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError(f"concurrency must be >= 1, got {concurrency}")
        if prefetch is not None and prefetch < 0:
            raise ConfigurationError(f"prefetch must be >= 0, got {prefetch}")
        self.app: AppT = app
        self.queues = list(queues or sorted({t.settings.queue for t in app.tasks.values()}))
        if not self.queues:
            raise ConfigurationError("no queues to work on: register a task or pass queues=[...]")
        self.concurrency = concurrency
        self.burst = burst
        self.grace_s = grace_s
        self.prefetch = prefetch
        """Jobs taken (and started) beyond the free executors: fixed, or None to adapt it to
        how many jobs start within ``PREFETCH_HORIZON_S`` (up to ``concurrency``)."""
        self.name = name or _consumer_name()
        self.heartbeat_s = heartbeat_s
        self.delayed_max_sleep_s = delayed_max_sleep_s
        self.handle_signals = handle_signals
        self.leases_ms = {q: int(self._lease_s(q, lease_s) * 1000) for q in self.queues}
        self.reclaim_interval_s = reclaim_interval_s
        self.stats = WorkerStats()
        self.backends: dict[str, Backend] = {q: app.backend(q, self.name) for q in self.queues}
        self.presence = Presence(app.redis, app.scripts, app.keys)
        self._limits = {
            name: (t.settings.attempts_allowed, t.settings.result_ttl_s)
            for name, t in app.tasks.items()
        }
        self._signals = 0
        self._init_state()
        # Before binding the logger: an embedded worker whose application configured no
        # logging gets INFO and above, not structlog's every level.
        logs.default_to_info()
        self.log = log.bind(worker=self.name)
        self._executor = self._make_executor()

    def _make_executor(self) -> Executor:
        gate = RateGate(self.app, self.backends, self.release, self.wake_delayed, self.log)
        slots = SlotGate(self.app, self.backends, self.leases_ms, self.release, self.wake_delayed,
                         self.log)  # fmt: skip
        return Executor(
            self.app,
            self.backends,
            self.stats,
            gate,
            slots,
            name=self.name,
            log=self.log,
            concurrency=self.concurrency,
            stopping=self._stopping,
            release=self.release,
            ran=self.ran,
            wake_delayed=self.wake_delayed,
        )

    def _lease_s(self, queue: str, override: float | None) -> float:
        leases = [t.settings.lease_s for t in self.app.tasks.values() if t.settings.queue == queue]
        return min([override or self.app.lease_s, *(x for x in leases if x)])

    async def run(self) -> None:
        jobs: Channel[Delivery] = Channel()
        done: Outbox[Completion] = Outbox()
        hooks = self._hooks = self._install_middleware()
        completer = Completer(self.backends, self._release_completed, self.name,
                              hooks.dead_lettered if hooks else None)  # fmt: skip
        started = False
        try:
            async with failure_unwrapped(), anyio.create_task_group() as outer:
                if self.handle_signals:  # first: a SIGTERM during start-up is graceful
                    await outer.start(self._watch_signals, outer.cancel_scope)
                await self._start_up()
                started = True
                await self._enter_scope()  # the lifespan; LifespanFailed: no job was taken
                self._wire_calls(hooks)
                if hooks is not None:  # after the lifespan is entered
                    await hooks.worker_started()
                self._log_started()  # ready: connected, queues prepared, lifespan entered
                self._start_upkeep(outer)
                async with anyio.create_task_group() as finishing:
                    finishing.start_soon(completer.run, done)
                    try:
                        async with anyio.create_task_group() as executors:
                            outer.start_soon(self._grace_timer, executors.cancel_scope)
                            for _ in range(self.concurrency):
                                executors.start_soon(self._executor.loop, jobs, done)
                            await self._intake(jobs)
                    finally:
                        # Grace over (or forced exit): what no executor started goes back at once.
                        for d in jobs.drain():
                            await self._executor.hand_back(d)
                        done.close()
                if hooks is not None:  # every job acked or handed back; the lifespan still open
                    await hooks.worker_stopped()
                outer.cancel_scope.cancel()
        finally:
            if hooks is not None:  # a forced exit: on_worker_stop still pairs on_worker_start
                with anyio.move_on_after(5, shield=True):
                    await hooks.worker_stopped()
            await self._close_scope()  # worker-cached providers, then the lifespan's exit
            if started:  # even when cancelled: hand back what a cut-off read left, deregister
                await self._leave()
        self.log.info(
            "worker stopped",
            completed=self.stats.completed,
            retried=self.stats.retried,
            failed=self.stats.failed,
            handed_back=self.stats.handed_back,
        )

    def _start_upkeep(self, tg: TaskGroup) -> None:
        """Beside the executors until the worker ends (the grace period included): heartbeat,
        lease renewal, the progress sender and each queue's cancel listener."""
        tg.start_soon(self._heartbeat)
        tg.start_soon(self._renew)
        tg.start_soon(self._executor.progress.run)
        for q in self.queues:
            tg.start_soon(self._cancel_loop, q)

    def _install_middleware(self) -> WorkerHooks | None:
        """The app's middleware, noted once per run: the executor gets only the steps some
        middleware overrides; None if the app has none."""
        executor = self._executor
        hooks = (
            WorkerHooks(self.app.middleware, self.log, self.info) if self.app.middleware else None
        )
        executor.on_success = hooks.succeeded if hooks and hooks.success else None
        executor.failure_hooks = hooks if hooks and hooks.any_failure else None
        executor.cancel_hooks = hooks if hooks and hooks.cancel else None
        return hooks

    def _wire_calls(self, hooks: WorkerHooks | None) -> None:
        """The run step, built anew each run: the task call, wrapped by dependency injection
        (only if some task has ``Depends`` parameters), wrapped by the ``on_start`` hooks
        (outermost, so they fire for every job)."""
        executor = self._executor
        executor.call = executor._invoke
        assert self._scope is not None
        install_injection(executor, self.app.tasks, self._scope)
        if hooks is not None and hooks.start:
            executor.call = hooks.wrap(executor.call)

    async def _start_up(self) -> None:
        await self.app.connect()
        await connection.warn_unless_noeviction(self.app.redis)
        for q, backend in self.backends.items():
            # Retried like any outage: e.g. at maxmemory a stream's group cannot be created.
            outage = Outage("preparing the queue", queue=q)
            while not self.stopping:
                try:
                    await backend.prepare()
                    await self.app.scripts.run("queue_register", (self.app.keys.queues,), [q])
                    await self._recall_pace(q)
                    await self._read_paused(q)
                    break
                except outage.errors as exc:
                    await outage.failed(exc)
            outage.recovered()
        await self._size_cold_prefetch()
        if self.run_schedules and not self.burst:
            await self._declare_schedules()

    def _log_started(self) -> None:
        self.log.info(
            "worker started",
            queues=self.queues,
            concurrency=self.concurrency,
            backends={q: b.kind for q, b in self.backends.items()},
            lease_ms=self.leases_ms,
        )

    @property
    def info(self) -> WorkerInfo:
        """What this worker's lifespan is told about it."""
        return WorkerInfo(self.name, tuple(self.queues), self.concurrency, os.getpid(), self.burst)

    _scope: WorkerScope | None = None
    """The lifespan and the worker-cached providers of the current ``run()``."""

    async def _enter_scope(self) -> None:
        """Enter the app's lifespan (its state goes into every job's context) and make the
        executor inject the tasks' ``Depends`` parameters (only if some task has any)."""
        self._scope = WorkerScope(self.app.lifespan_function, self.log)
        self._executor.state = await self._scope.enter(self.info)

    async def _close_scope(self) -> None:
        scope, self._scope = self._scope, None
        if scope is not None:
            await scope.close()

    # ------------------------------------------------------------------ wiring
    async def _intake(self, jobs: Channel[Delivery]) -> None:
        try:
            async with anyio.create_task_group() as tg:
                for q in self.queues:
                    tg.start_soon(self._fetch_loop, q, jobs)
                    tg.start_soon(self._reclaim_loop, q, jobs)
                    tg.start_soon(self._delayed_loop, q)
                    tg.start_soon(self._pause_watch, q)
                tg.start_soon(self._isolation_loop, jobs)
                if self.run_schedules and not self.burst:
                    tg.start_soon(self._schedule_loop)
                if self.burst:
                    tg.start_soon(self._burst_watch)
                await self._stopping.wait()
                tg.cancel_scope.cancel()
        finally:
            jobs.close()
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._reconcile()

    async def _leave(self) -> None:
        """Deregister, after handing back anything still pending for this consumer that the
        runtime does not hold (a blocking read cut off by the stop that the server served
        after the intake's own reconcile)."""
        with anyio.move_on_after(5, shield=True):
            await self._reconcile()
            try:
                await self._record_pace()
                await self.presence.leave(self.name)
                for backend in self.backends.values():
                    await backend.leave()
            except Outage.errors as exc:
                self.log.warning("could not deregister the worker", error=str(exc))

    # ------------------------------------------------------------------ stopping
    async def _grace_timer(self, executors: anyio.CancelScope) -> None:
        await self._stopping.wait()
        await anyio.sleep(self.grace_s)
        if self.in_flight:
            self.log.warning("grace period over; cancelling running jobs", count=self.in_flight)
        executors.cancel()

    async def _watch_signals(
        self, scope: anyio.CancelScope, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            task_status.started()
            async for signum in signals:
                self._signals += 1
                if self._signals == 1:
                    self.log.info("signal received", signal=signal.Signals(signum).name)
                    self.request_stop()
                else:
                    self.log.warning(
                        "second signal: exiting now; unacked jobs stay pending and are "
                        "reclaimed by other workers after the lease"
                    )
                    scope.cancel()
                    return

    def extra_log_context(self) -> dict[str, Any]:
        return {"worker": self.name}


__all__ = ["Worker", "WorkerStats"]
