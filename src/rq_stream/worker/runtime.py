"""The worker runtime: one anyio task group with, per queue, a fetcher, a reclaimer and a delayed
mover feeding a bounded memory stream read by ``concurrency`` executors; a completer acking in
batches; a lease renewer and a heartbeat beside them.

Stopping (SIGTERM/SIGINT, ``request_stop()``, or burst mode running dry): intake stops, jobs not
yet running are handed back at once, running jobs get ``grace_s`` to finish, the rest are
cancelled and handed back; finished jobs are acked before ``run()`` returns. A second signal
cancels everything at once: whatever was not acked stays pending and is reclaimed after the lease.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus

from .. import codec, connection
from ..app import RqStream
from ..backends.base import Backend, Completion, Delivery, Failure
from ..errors import ConfigurationError, EnvelopeError
from .channel import Channel, Outbox
from .completer import Completer
from .execution import Executor
from .resilience import Outage

log = structlog.get_logger("rq_stream.worker")

PRUNE_EVERY_S = 300.0
PRUNE_IDLE_MS = 3_600_000
"""A dead worker's consumer is forgotten after an hour idle (and 10 leases), nothing pending."""


@dataclass
class WorkerStats:
    started_at: float = field(default_factory=time.time)
    completed: int = 0
    retried: int = 0
    failed: int = 0
    handed_back: int = 0


def _consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs jobs from ``queues`` (default: every queue a registered task uses).

    ``Worker(app, queues=["default"], concurrency=100, burst=True).run()`` returns once the
    queues are empty (backlog, delayed) and nothing is in flight.
    """

    def __init__(
        self,
        app: RqStream,
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
        self.app = app
        self.queues = list(queues or sorted({t.settings.queue for t in app.tasks.values()}))
        if not self.queues:
            raise ConfigurationError("no queues to work on: register a task or pass queues=[...]")
        self.concurrency = concurrency
        self.burst = burst
        self.grace_s = grace_s
        self.capacity = concurrency + (concurrency if prefetch is None else prefetch)
        self.name = name or _consumer_name()
        self.heartbeat_s = heartbeat_s
        self.delayed_max_sleep_s = delayed_max_sleep_s
        self.handle_signals = handle_signals
        self.leases_ms = {q: int(self._lease_s(q, lease_s) * 1000) for q in self.queues}
        self.reclaim_interval_s = reclaim_interval_s
        self.stats = WorkerStats()
        self.backends: dict[str, Backend] = {q: app.backend(q, self.name) for q in self.queues}
        self._limits = {
            name: (t.settings.attempts_allowed, t.settings.result_ttl_s)
            for name, t in app.tasks.items()
        }
        self.held: dict[str, dict[str, Delivery]] = {q: {} for q in self.queues}
        self._free = self.capacity
        self._freed = anyio.Event()
        self._stopping = anyio.Event()
        self._signals = 0
        self._executor = Executor(self)
        self.log = log.bind(worker=self.name)

    def _lease_s(self, queue: str, override: float | None) -> float:
        leases = [t.settings.lease_s for t in self.app.tasks.values() if t.settings.queue == queue]
        return min([override or self.app.lease_s, *(x for x in leases if x)])

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

    async def run(self) -> None:
        jobs: Channel[Delivery] = Channel()
        done: Outbox[Completion] = Outbox()
        completer = Completer(self.backends, self._release_completed)
        async with anyio.create_task_group() as outer:
            if self.handle_signals:  # before anything else: a SIGTERM during start-up is graceful
                await outer.start(self._watch_signals, outer.cancel_scope)
            await self._start_up()
            outer.start_soon(self._heartbeat)
            outer.start_soon(self._renew)
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
            outer.cancel_scope.cancel()
        await self._leave()
        self.log.info(
            "worker stopped",
            completed=self.stats.completed,
            retried=self.stats.retried,
            failed=self.stats.failed,
            handed_back=self.stats.handed_back,
        )

    async def _start_up(self) -> None:
        await self.app.connect()
        await connection.warn_unless_noeviction(self.app.redis)
        for q, backend in self.backends.items():
            # Retried like any outage: e.g. at maxmemory a stream's group cannot be created.
            outage = Outage("preparing the queue", queue=q)
            while not self.stopping:
                try:
                    await backend.prepare(q)
                    await self.app.scripts.run("queue_register", (self.app.keys.queues,), [q])
                    break
                except outage.errors as exc:
                    await outage.failed(exc)
            outage.recovered()
        self.log.info(
            "worker started",
            queues=self.queues,
            concurrency=self.concurrency,
            backends={q: b.kind for q, b in self.backends.items()},
            lease_ms=self.leases_ms,
        )

    # ------------------------------------------------------------------ intake
    async def _intake(self, jobs: Channel[Delivery]) -> None:
        try:
            async with anyio.create_task_group() as tg:
                for q in self.queues:
                    tg.start_soon(self._fetch_loop, q, jobs)
                    tg.start_soon(self._reclaim_loop, q, jobs)
                    tg.start_soon(self._delayed_loop, q)
                if self.burst:
                    tg.start_soon(self._burst_watch)
                await self._stopping.wait()
                tg.cancel_scope.cancel()
        finally:
            jobs.close()

    async def _fetch_loop(self, queue: str, jobs: Channel[Delivery]) -> None:
        backend = self.backends[queue]
        block_ms = 200 if self.burst else self.app.connection_settings.block_ms
        outage = Outage("fetching jobs", queue=queue)
        while True:
            count = await self._wait_free()
            try:
                # Busy queue: one round trip reads and starts a batch. Idle: block for new work.
                got = await backend.take(queue, count, self._limits)
                if not got:
                    got = await backend.fetch(queue, count, block_ms)
                outage.recovered()
            except outage.errors as exc:
                await outage.failed(exc)
                continue
            await self._admit(queue, got, jobs)

    async def _reclaim_loop(self, queue: str, jobs: Channel[Delivery]) -> None:
        backend = self.backends[queue]
        lease_ms = self.leases_ms[queue]
        interval = self.reclaim_interval_s or min(lease_ms / 2000, 5.0)
        outage = Outage("reclaiming stalled jobs", queue=queue)
        next_prune = time.monotonic() + PRUNE_EVERY_S * random.random()
        while True:
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_S
                with contextlib.suppress(*Outage.errors):
                    await backend.prune(queue, max(10 * lease_ms, PRUNE_IDLE_MS))
            if self._free > 0:
                try:
                    got = await backend.reclaim(queue, lease_ms, self._free)
                    outage.recovered()
                except outage.errors as exc:
                    await outage.failed(exc)
                    continue
                if got:
                    self.log.warning(
                        "reclaimed jobs whose worker went silent longer than the lease",
                        queue=queue,
                        count=len(got),
                        lease_ms=lease_ms,
                    )
                    await self._admit(queue, got, jobs)
            await anyio.sleep(interval)

    async def _delayed_loop(self, queue: str) -> None:
        backend = self.backends[queue]
        outage = Outage("moving due delayed jobs", queue=queue)
        while True:
            try:
                wait_ms = await backend.move_due(queue, 500)
                outage.recovered()
            except outage.errors as exc:
                await outage.failed(exc)
                continue
            if wait_ms != 0:
                sleep_s = self.delayed_max_sleep_s if wait_ms < 0 else wait_ms / 1000
                await anyio.sleep(min(sleep_s, self.delayed_max_sleep_s))

    async def _burst_watch(self) -> None:
        while True:
            await anyio.sleep(0.1)
            if self.in_flight:
                continue
            idle = True
            for q, backend in self.backends.items():
                try:
                    c = await backend.counts(q)
                except Outage.errors:
                    idle = False
                    break
                if c.backlog or c.in_flight or c.delayed:
                    idle = False
                    break
            if idle and not self.in_flight:
                self.log.info("burst: queues are empty; stopping")
                self.request_stop()
                return

    async def _admit(self, queue: str, got: list[Delivery], jobs: Channel[Delivery]) -> None:
        """Decode, count the attempt (atomically in Redis, unless the backend did it while
        taking the jobs), then hand to the executors."""
        if not got:
            return
        self._take(len(got))
        to_start: list[Delivery] = []
        ready: list[Delivery] = []
        for d in got:
            if d.started and d.attempt <= 0:
                self._not_run(d)
                continue
            failure = self._prepare(d)
            if failure is not None:
                await self._reject(d, failure)
                self._give(1)
            else:
                (ready if d.started else to_start).append(d)
        if to_start:
            for d, attempt in zip(to_start, await self._start(queue, to_start), strict=True):
                d.started, d.attempt = True, attempt
                if attempt > 0:
                    ready.append(d)
                else:
                    self._not_run(d)
        held = self.held[queue]
        for d in ready:
            held[d.token] = d
            jobs.put(d)

    async def _start(self, queue: str, deliveries: list[Delivery]) -> list[int]:
        outage = Outage("starting jobs", queue=queue)
        while True:
            try:
                attempts = await self.backends[queue].start(queue, deliveries)
                outage.recovered()
                return attempts
            except outage.errors as exc:
                await outage.failed(exc)

    def _not_run(self, d: Delivery) -> None:
        """A delivery that must not run: already finished (0) or just dead-lettered (-1)."""
        self._give(1)
        if d.attempt < 0:
            self.stats.failed += 1
            self.log.error(
                "job dead-lettered: it was started too many times without finishing "
                "(its worker crashed or was killed each time)",
                job_id=d.job_id or codec.peek_job_id(d.raw),
                queue=d.queue,
            )

    def _prepare(self, d: Delivery) -> Failure | None:
        """Decode a delivery; the failure if it cannot run on this worker."""
        try:
            env = codec.decode_envelope(d.raw)
        except EnvelopeError as exc:
            d.job_id = codec.peek_job_id(d.raw) or ""
            return Failure("EnvelopeError", f"payload could not be decoded: {exc}")
        d.envelope, d.job_id = env, env.job_id
        task = self.app.tasks.get(env.task)
        if task is None:
            known = ", ".join(sorted(self.app.tasks)) or "none"
            return Failure(
                "UnknownTask",
                f"no task named {env.task!r} is registered on this worker (known: {known}); "
                "deploy the task to the workers, then replay the dead letter",
            )
        d.max_attempts = task.settings.attempts_allowed
        ttl = env.result_ttl_s
        d.result_ttl_s = task.settings.result_ttl_s if ttl is None else ttl
        return None

    async def _reject(self, d: Delivery, failure: Failure) -> None:
        """Dead-letter a delivery that cannot run here; the worker carries on."""
        self.log.error(
            "job cannot run; moving it to the dead-letter stream",
            queue=d.queue,
            job_id=d.job_id or None,
            entry=d.token,
            error=failure.message,
        )
        self.stats.failed += 1
        outage = Outage("dead-lettering a job", queue=d.queue)
        while True:
            try:
                await self.backends[d.queue].dead_letter(d, failure, self.name)
                break
            except outage.errors as exc:
                await outage.failed(exc)
        outage.recovered()

    # ------------------------------------------------------------------ capacity
    async def _wait_free(self) -> int:
        """Free slots, waiting for some. Every fetcher (one per queue) may wait here at once:
        ``_give`` wakes them all by setting the current event and installing a fresh one, so no
        waiter is ever left on an event nobody will set."""
        while self._free <= 0:
            await self._freed.wait()
        return min(self._free, 500)

    def _take(self, n: int) -> None:
        self._free -= n

    def _give(self, n: int) -> None:
        self._free += n
        freed, self._freed = self._freed, anyio.Event()
        freed.set()

    def release(self, d: Delivery) -> None:
        """A job left this worker (finished, retried, dead-lettered or handed back)."""
        if self.held[d.queue].pop(d.token, None) is not None:
            self._give(1)

    def _release_completed(self, items: Sequence[Completion]) -> None:
        self.stats.completed += len(items)
        for c in items:
            self.release(c.delivery)

    # ------------------------------------------------------------------ upkeep
    async def _renew(self) -> None:
        interval = min(self.leases_ms.values()) / 3000
        outage = Outage("renewing leases")
        while True:
            await anyio.sleep(interval)
            for q, held in self.held.items():
                if not held:
                    continue
                try:
                    lost = await self.backends[q].renew(q, list(held.values()))
                    outage.recovered()
                except outage.errors as exc:
                    await outage.failed(exc)
                    continue
                for token in lost:
                    d = held.get(token)
                    if d is not None:
                        self.log.warning(
                            "lost the lease of a running job (another worker reclaimed it after "
                            "this one stalled); its outcome here will not be acked",
                            queue=q,
                            job_id=d.job_id,
                        )

    async def _heartbeat(self) -> None:
        keys = self.app.keys
        ttl_ms = int(self.heartbeat_s * 3000)
        outage = Outage("heartbeat")
        while True:
            info = {
                "name": self.name,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "queues": self.queues,
                "concurrency": self.concurrency,
                "started_at": self.stats.started_at,
                "completed": self.stats.completed,
                "failed": self.stats.failed,
                "in_flight": self.in_flight,
            }
            try:
                now_ms = int(time.time() * 1000)
                # Scripts flagged allow-oom: a worker draining a full Redis keeps beating. Not
                # resent by the script runner: this loop backs off and logs an outage itself.
                run, beat = self.app.scripts.run, (codec.dumps(info), ttl_ms)
                await run("worker_heartbeat", (keys.worker(self.name),), beat, retries=0)
                seen = (self.name, now_ms, now_ms - 24 * 3600 * 1000)
                await run("worker_seen", (keys.workers,), seen, retries=0)
                for q, backend in self.backends.items():
                    await backend.heartbeat([q], ttl_ms)
                outage.recovered()
            except outage.errors as exc:
                await outage.failed(exc)
                continue
            await anyio.sleep(self.heartbeat_s)

    async def _leave(self) -> None:
        with anyio.move_on_after(5, shield=True):
            try:
                await self.app.redis.delete(self.app.keys.worker(self.name))
                await self.app.redis.zrem(self.app.keys.workers, self.name)
                for q, backend in self.backends.items():
                    await backend.leave([q])
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
