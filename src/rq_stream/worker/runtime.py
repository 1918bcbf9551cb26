"""The worker runtime: one anyio task group with, per queue, a fetcher, a reclaimer and a delayed
mover feeding a bounded memory stream read by ``concurrency`` executors; a completer acking in
batches; a lease renewer and a heartbeat beside them.

A job's attempt is counted when it is taken and started, in one round trip: the fetcher takes
as many jobs as executors are free plus a prefetch (by default the jobs they would start within
``PREFETCH_HORIZON_S``, none for long jobs), so a worker never hoards jobs other workers could
start, and a crash charges an attempt to jobs that were running or about to. A job whose last
allowed attempt follows a crash of the worker running it runs alone in its worker (see
``_isolation_loop``): a poison job cannot take innocent jobs with it.

Stopping (SIGTERM/SIGINT, ``request_stop()``, ``run()`` cancelled, or burst mode running dry):
intake stops, and anything this consumer holds in Redis that the runtime never received (a
fetch or take whose reply was cut off) is handed back at once; jobs not yet running are handed
back at once, running jobs get ``grace_s`` to finish, the rest are cancelled and handed back;
finished jobs are acked before ``run()`` returns. A second signal cancels everything at once:
whatever was not acked stays pending and is reclaimed after the lease.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus

from rq_stream import codec
from rq_stream.backends.base import ALONE, Backend, Completion, Delivery, Failure
from rq_stream.backends.presence import Presence
from rq_stream.client.app import RqStream
from rq_stream.connect import connection
from rq_stream.connect.notify import Inbox
from rq_stream.errors import ConfigurationError, EnvelopeError
from rq_stream.worker.channel import Channel, Outbox
from rq_stream.worker.completer import Completer
from rq_stream.worker.execution import Executor
from rq_stream.worker.resilience import Outage

log = structlog.get_logger("rq_stream.worker")

INFO_EVERY_S = 1.0
"""The worker's ``rq-stream info`` row is rewritten this often (two allow-oom scripts)."""
PREFETCH_HORIZON_S = 0.02
"""The default prefetch takes the jobs that free executors would start within this time (from
the average job's run time): up to ``concurrency`` for quick jobs, none for long ones, so a
worker hides its fetch round trip without holding jobs other workers could start now."""
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
        if prefetch is not None and prefetch < 0:
            raise ConfigurationError(f"prefetch must be >= 0, got {prefetch}")
        self.app = app
        self.queues = list(queues or sorted({t.settings.queue for t in app.tasks.values()}))
        if not self.queues:
            raise ConfigurationError("no queues to work on: register a task or pass queues=[...]")
        self.concurrency = concurrency
        self.burst = burst
        self.grace_s = grace_s
        self.prefetch = prefetch
        """Jobs taken (and started) beyond the free executors: fixed, or None to adapt it to
        how many jobs start within ``PREFETCH_HORIZON_S`` (up to ``concurrency``)."""
        self._job_s = 0.0
        """Running average of how long a job runs (0: none seen yet)."""
        self._cold_prefetch = 0
        """Prefetch until a job's run time is known: this worker's fair share of the backlog
        seen at start-up beyond its executors (none when other workers could take it)."""
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
        self.held: dict[str, dict[str, Delivery]] = {q: {} for q in self.queues}
        """Deliveries this worker answers for until acked, retried, dead-lettered or handed
        back (renewed while held)."""
        self.running = 0
        """Jobs an executor is running right now."""
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
        completer = Completer(self.backends, self._release_completed, self.name)
        started = False
        try:
            async with anyio.create_task_group() as outer:
                if self.handle_signals:  # first: a SIGTERM during start-up is graceful
                    await outer.start(self._watch_signals, outer.cancel_scope)
                await self._start_up()
                started = True
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
        finally:
            if started:  # even when cancelled: hand back what a cut-off read left, deregister
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
                    await backend.prepare()
                    await self.app.scripts.run("queue_register", (self.app.keys.queues,), [q])
                    await self._recall_pace(q)
                    break
                except outage.errors as exc:
                    await outage.failed(exc)
            outage.recovered()
        await self._size_cold_prefetch()
        self.log.info(
            "worker started",
            queues=self.queues,
            concurrency=self.concurrency,
            backends={q: b.kind for q, b in self.backends.items()},
            lease_ms=self.leases_ms,
        )

    async def _size_cold_prefetch(self) -> None:
        """Before any job has run here: prefetch only what no other live worker would get,
        i.e. this worker's share of the current backlog beyond its executors."""
        if self.prefetch is not None or self._job_s:
            return
        try:
            backlog = 0
            for backend in self.backends.values():
                backlog += (await backend.counts()).backlog
            seen_after = int(time.time() * 1000) - int(self.heartbeat_s * 3000)
            others = await self.presence.seen_since(seen_after)
        except Outage.errors:
            return
        share = backlog // (others + 1)
        self._cold_prefetch = max(0, min(self.concurrency, share - self.concurrency))

    async def _recall_pace(self, queue: str) -> None:
        """Start from the run time other workers saw on ``queue`` (the longest of this
        worker's queues), so the prefetch fits from the first job."""
        us = await self.app.redis.hget(self.app.keys.queue(queue).stats, "job_us")
        if us is not None and us.isdigit():
            self._job_s = max(self._job_s, int(us) / 1e6)

    async def _record_pace(self) -> None:
        if self._job_s and self.prefetch is None:
            us = [max(1, int(self._job_s * 1e6))]
            for q in self.queues:
                await self.app.scripts.run("queue_pace", (self.app.keys.queue(q).stats,), us,
                                           retries=0)  # fmt: skip

    # ------------------------------------------------------------------ intake
    async def _intake(self, jobs: Channel[Delivery]) -> None:
        try:
            async with anyio.create_task_group() as tg:
                for q in self.queues:
                    tg.start_soon(self._fetch_loop, q, jobs)
                    tg.start_soon(self._reclaim_loop, q, jobs)
                    tg.start_soon(self._delayed_loop, q)
                tg.start_soon(self._isolation_loop, jobs)
                if self.burst:
                    tg.start_soon(self._burst_watch)
                await self._stopping.wait()
                tg.cancel_scope.cancel()
        finally:
            jobs.close()
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._reconcile()

    async def _reconcile(self) -> None:
        """Intake is over: hand back at once whatever this consumer holds in Redis but the
        runtime never received or started (a take, fetch, reclaim or start whose reply was cut
        off by the stop, and jobs waiting to run alone), so none waits for the lease."""
        for d in self._isolated:
            self.held[d.queue].pop(d.token, None)
        self._isolated.clear()
        for q, backend in self.backends.items():
            try:
                n = await backend.reconcile(list(self.held[q].values()))
            except Outage.errors as exc:
                self.log.warning(
                    "could not hand back jobs whose fetch was cut short; they are reclaimed "
                    "after the lease",
                    queue=q,
                    error=str(exc),
                )
                continue
            if n:
                self.stats.handed_back += n
                self.log.info("handed back jobs whose fetch was cut short", queue=q, count=n)

    async def _fetch_loop(self, queue: str, jobs: Channel[Delivery]) -> None:
        backend = self.backends[queue]
        block_ms = 200 if self.burst else self.app.connection_settings.block_ms
        outage = Outage("fetching jobs", queue=queue)
        while True:
            count = await self._wait_free()
            with self._taking():
                try:
                    # Busy queue: one round trip reads and starts a batch. Idle: block for work.
                    got = await backend.take(count, self._limits)
                    if not got:
                        got = await backend.fetch(count, block_ms)
                    outage.recovered()
                except outage.errors as exc:
                    await outage.failed(exc)
                    continue
                await self._admit(queue, got, jobs)

    @contextlib.contextmanager
    def _taking(self) -> Iterator[None]:
        """Around a take, fetch or reclaim and its start: a job that must run alone waits
        until none is under way (what it returns may start and run first)."""
        self._in_intake += 1
        try:
            yield
        finally:
            self._in_intake -= 1
            self._give(0)

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
                    await backend.prune(max(10 * lease_ms, PRUNE_IDLE_MS))
            if self.free > 0 and not self._isolating:
                with self._taking():
                    try:
                        got = await backend.reclaim(lease_ms, self.free)
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
        """Move due delayed jobs (and retries) to the backlog, sleeping until the next is due
        (at most ``delayed_max_sleep_s``). A producer that schedules a job sooner than any
        other publishes on the queue's wake channel; this worker's own retries wake it too."""
        outage = Outage("listening for delayed jobs", queue=queue)
        channel = self.app.keys.queue(queue).wake_channel
        while True:
            try:
                async with self.app.channels.listen(channel) as wake:
                    outage.recovered()
                    self._wakes[queue] = wake
                    await self._move_due(queue, wake)
            except outage.errors as exc:
                await outage.failed(exc)

    async def _move_due(self, queue: str, wake: Inbox) -> None:
        backend = self.backends[queue]
        outage = Outage("moving due delayed jobs", queue=queue)
        while True:
            try:
                wait_ms = await backend.move_due(500)
                outage.recovered()
            except outage.errors as exc:
                await outage.failed(exc)
                continue
            if wait_ms != 0:
                sleep_s = self.delayed_max_sleep_s if wait_ms < 0 else wait_ms / 1000
                await wake.next(min(sleep_s, self.delayed_max_sleep_s))

    async def _burst_watch(self) -> None:
        while True:
            await anyio.sleep(0.1)
            if self.in_flight:
                continue
            idle = True
            for backend in self.backends.values():
                try:
                    c = await backend.counts()
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
        held = self.held[queue]
        for d in got:
            if d.started and d.attempt == ALONE:
                self._isolate(d)
                continue
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
                if attempt == ALONE:
                    self._isolate(d)
                    continue
                d.started, d.attempt = True, attempt
                if attempt > 0:
                    ready.append(d)
                else:
                    self._not_run(d)
        for d in ready:
            held[d.token] = d
            jobs.put(d)

    def _isolate(self, d: Delivery) -> None:
        """Hold a job that must run alone (not started; its slot is given back)."""
        d.started, d.attempt = False, 0
        self.held[d.queue][d.token] = d
        self._isolated.append(d)
        self._to_isolate.set()
        self._give(1)

    async def _isolation_loop(self, jobs: Channel[Delivery]) -> None:
        """Run each job whose worker died running it, on its last allowed attempt, alone: no
        new job starts in this worker until it is done. If it crashes the worker again, only it
        is charged, and it goes to the dead-letter stream; the jobs that crashed beside it
        before (innocent, or not) get their own last attempt alone too."""
        while True:
            while not self._isolated:
                self._to_isolate = anyio.Event()
                await self._to_isolate.wait()
            self._isolating = True
            try:
                # Nothing else held (running, waiting, or finished and not yet acked: a crash
                # before the ack would charge that attempt), no take under way.
                while self.in_flight > len(self._isolated) or self._in_intake:
                    await self._changed()
                d = self._isolated.pop(0)
                (attempt,) = await self._start(d.queue, [d], alone=True)
                if attempt <= 0:
                    self.held[d.queue].pop(d.token, None)
                    d.attempt = attempt
                    self._take(1)
                    self._not_run(d)
                    continue
                d.started, d.attempt = True, attempt
                self.log.warning(
                    "running a job alone: its worker died while running it, and this is its "
                    "last allowed attempt",
                    job_id=d.job_id,
                    queue=d.queue,
                    attempt=attempt,
                )
                self._take(1)
                jobs.put(d)
                while d.token in self.held[d.queue]:  # until its outcome is in Redis
                    await self._changed()
            finally:
                self._isolating = False
                self._give(0)

    async def _start(
        self, queue: str, deliveries: list[Delivery], *, alone: bool = False
    ) -> list[int]:
        outage = Outage("starting jobs", queue=queue)
        while True:
            try:
                attempts = await self.backends[queue].start(deliveries, alone=alone)
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
            d.job_id = d.job_id or codec.peek_job_id(d.raw) or ""
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
        outage = Outage("dead-lettering a job", queue=d.queue)
        while True:
            try:
                buried = await self.backends[d.queue].dead_letter(d, failure, self.name)
                break
            except outage.errors as exc:
                await outage.failed(exc)
        outage.recovered()
        context = {"queue": d.queue, "job_id": d.job_id or None, "entry": d.token}
        if buried:
            self.stats.failed += 1
            self.log.error("job cannot run; moved it to the dead-letter stream",
                           error=failure.message, **context)  # fmt: skip
        else:
            self.log.warning("job cannot run, and this worker no longer owns it (another worker "
                             "took it over); not dead-lettered here", error=failure.message,
                             **context)  # fmt: skip

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
                    lost = await self.backends[q].renew(list(held.values()))
                    outage.recovered()
                except outage.errors as exc:
                    await outage.failed(exc)
                    continue
                # A job not started yet (waiting to run alone) has no attempt of its own to lose.
                stale = [d for t in lost if (d := held.get(t)) is not None and d.started]
                for d in stale:
                    self.log.warning(
                        "lost the lease of a running job (another worker reclaimed it after "
                        "this one stalled); its outcome here will not be acked",
                        queue=q,
                        job_id=d.job_id,
                    )
                if stale:
                    await self._executor.lease_lost(q, stale)

    async def _heartbeat(self) -> None:
        """Keep this worker's ``info`` row fresh (two allow-oom scripts every
        ``INFO_EVERY_S`` at most) and beat the backends every ``heartbeat_s`` (their liveness
        TTL stays ``3 x heartbeat_s``, so fresher rows do not make a stalled worker look dead
        sooner)."""
        ttl_ms = int(self.heartbeat_s * 3000)
        every_s = min(self.heartbeat_s, INFO_EVERY_S)
        outage = Outage("heartbeat")
        next_beat = 0.0
        while True:
            held = self.in_flight
            running = min(self.running, held)
            info = {
                "name": self.name,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "queues": self.queues,
                "concurrency": self.concurrency,
                "started_at": self.stats.started_at,
                "completed": self.stats.completed,
                "failed": self.stats.failed,
                "in_flight": held,  # everything held: running + prefetched
                "running": running,
                "prefetched": held - running,
                "written_at": time.time(),
            }
            try:
                now_ms = int(time.time() * 1000)
                # Scripts flagged allow-oom: a worker draining a full Redis keeps beating. Not
                # resent by the script runner: this loop backs off and logs an outage itself.
                await self.presence.beat(self.name, codec.dumps(info), ttl_ms, now_ms)
                if time.monotonic() >= next_beat:
                    for backend in self.backends.values():
                        await backend.heartbeat(ttl_ms)
                    next_beat = time.monotonic() + self.heartbeat_s
                await self._record_pace()
                outage.recovered()
            except outage.errors as exc:
                await outage.failed(exc)
                continue
            await anyio.sleep(every_s)

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
