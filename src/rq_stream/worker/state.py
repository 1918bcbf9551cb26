"""The worker's shared state and slot accounting: what its intake, upkeep and executors read
and change (see :mod:`.runtime` for how they are wired)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from rq_stream.backends.base import Backend, Completion, Delivery, Failure
from rq_stream.backends.presence import Presence
from rq_stream.connect.notify import Inbox
from rq_stream.worker.execution import Executor
from rq_stream.worker.hooks import WorkerHooks
from rq_stream.worker.host import WorkerApp
from rq_stream.worker.stats import WorkerStats

PREFETCH_HORIZON_S = 0.02
"""The default prefetch takes the jobs that free executors would start within this time (from
the average job's run time): up to ``concurrency`` for quick jobs, none for long ones, so a
worker hides its fetch round trip without holding jobs other workers could start now."""


class WorkerState:
    """Attributes set by ``Worker.__init__`` (the shared ones by ``_init_state``); the slot
    accounting every part shares."""

    app: WorkerApp
    name: str
    queues: list[str]
    concurrency: int
    burst: bool
    grace_s: float
    prefetch: int | None
    heartbeat_s: float
    delayed_max_sleep_s: float
    leases_ms: dict[str, int]
    slotted: bool
    """Some task has ``concurrency=N``: the lease renewer renews the held slots too."""
    reclaim_interval_s: float | None
    stats: WorkerStats
    backends: dict[str, Backend]
    presence: Presence
    log: Any
    _limits: dict[str, tuple[int, int]]
    _executor: Executor
    _hooks: WorkerHooks | None
    """The app's middleware (set when ``run`` starts; None: no middleware)."""

    def _init_state(self) -> None:
        """The slot accounting and the job hand-over state, all empty (queues are set)."""
        self.slotted = any(t.settings.concurrency is not None for t in self.app.tasks.values())
        self._job_s = 0.0
        """Running average of how long a job runs (0: none seen yet)."""
        self._cold_prefetch = 0
        """Prefetch until a job's run time is known: this worker's fair share of the backlog
        seen at start-up beyond its executors (none when other workers could take it)."""
        self.held: dict[str, dict[str, Delivery]] = {q: {} for q in self.queues}
        """Deliveries this worker answers for until acked, retried, dead-lettered or handed
        back (renewed while held)."""
        self._used = 0
        """Jobs taken and not yet run to their end; a slot frees when its executor is done
        with the job (its ack, retry or dead letter may still be in flight)."""
        self._freed = anyio.Event()
        self._waiting = 0
        self._isolated: list[Delivery] = []
        """Taken, not started: each must run alone (its last attempt, after a crash)."""
        self._isolating = False
        self._in_intake = 0
        self._to_isolate = anyio.Event()
        self._wakes: dict[str, Inbox] = {q: Inbox() for q in self.queues}
        self._stopping = anyio.Event()
        self._hooks = None
        self._unreported: list[tuple[Delivery, Failure]] = []
        """Dead-lettered by the intake, for middleware's ``on_dead_letter`` (see ``_admit``)."""
        self._missed_cancels: dict[str, float] = {}
        """Cancelled running jobs this worker did not hold when told (job id -> monotonic
        time): a job it was starting at that instant is cancelled as soon as it is held."""
        self._resumed: dict[str, anyio.Event] = {}
        """Queues paused (see :mod:`.pausing`), each with the event its resume sets."""
        self._parked: dict[str, list[Delivery]] = {q: [] for q in self.queues}
        """Held, not started: read from a queue as it was paused, started on resume."""
        self._payloads = self.app.payloads
        """How envelopes decode (the app's serializer), read once."""

    # ------------------------------------------------------------------ public
    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def request_stop(self) -> None:
        """Begin a graceful stop (what SIGTERM does)."""
        if not self._stopping.is_set():
            self.log.info("stopping: no new jobs; running jobs get grace", grace_s=self.grace_s)
            self._stopping.set()

    @property
    def in_flight(self) -> int:
        return sum(len(h) for h in self.held.values())

    @property
    def running(self) -> int:
        """Jobs an executor is running right now."""
        return self._executor.running

    # ------------------------------------------------------------------ capacity
    async def _wait_free(self) -> int:
        """Free slots, waiting for some. Every fetcher (one per queue) may wait here at once:
        ``_give`` wakes them all by setting the current event and installing a fresh one, so no
        waiter is ever left on an event nobody will set."""
        while self.free <= 0 or self._isolating:
            await self._changed()
        return min(self.free, 500)

    @property
    def capacity(self) -> int:
        """How many jobs this worker may hold taken and not yet run to their end."""
        prefetch = self.prefetch
        if prefetch is None:
            n, job_s = self.concurrency, self._job_s
            prefetch = min(n, int(n * PREFETCH_HORIZON_S / job_s)) if job_s else self._cold_prefetch
        return self.concurrency + prefetch

    @property
    def free(self) -> int:
        return self.capacity - self._used

    def _take(self, n: int) -> None:
        self._used += n

    def _give(self, n: int) -> None:
        """Slots freed (or, n=0, held jobs or takes changed): wake every waiter, if any."""
        self._used -= n
        if self._waiting:
            freed, self._freed = self._freed, anyio.Event()
            freed.set()

    async def _changed(self) -> None:
        """Wait for the next ``_give``."""
        self._waiting += 1
        try:
            await self._freed.wait()
        finally:
            self._waiting -= 1

    def release(self, d: Delivery) -> None:
        """A job left this worker (finished, retried, dead-lettered or handed back)."""
        self.held[d.queue].pop(d.token, None)
        self._give(0)

    def ran(self, seconds: float) -> None:
        """An executor is done with a job that ran ``seconds`` (whatever became of it): its
        slot is free."""
        job_s = self._job_s
        self._job_s = job_s + (seconds - job_s) * 0.2 if job_s else max(seconds, 1e-6)
        self._give(1)

    def wake_delayed(self, queue: str) -> None:
        """A job of ``queue`` was scheduled here: re-check when the next delayed job is due."""
        self._wakes[queue].put(None)

    def _release_completed(self, items: Sequence[Completion]) -> None:
        self.stats.completed += len(items)
        for c in items:
            d = c.delivery
            self.held[d.queue].pop(d.token, None)
        self._give(0)


__all__ = ["PREFETCH_HORIZON_S", "WorkerState"]
