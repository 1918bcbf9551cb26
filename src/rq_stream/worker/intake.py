"""The worker's intake: per queue, a fetcher (take, or block for work) and a reclaimer of
stalled jobs feed the executors; each batch is decoded and its attempts counted before it is
handed on; a job that must run alone (its last attempt, after a crash) runs alone."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator

import anyio

from rq_stream.backends.base import ALONE, EXPIRED, Delivery, Failure
from rq_stream.errors import EnvelopeError
from rq_stream.payloads import RebuildError
from rq_stream.worker.channel import Channel
from rq_stream.worker.pausing import Pausing
from rq_stream.worker.resilience import Outage

PRUNE_EVERY_S = 300.0
PRUNE_IDLE_MS = 3_600_000
"""A dead worker's consumer is forgotten after an hour idle (and 10 leases), nothing pending."""
CRASHED = "started too many times without finishing (its worker crashed or was killed each time)"


class Intake(Pausing):
    async def _reconcile(self) -> None:
        """Intake is over: hand back at once whatever this consumer holds in Redis but the
        runtime never received or started (a take, fetch, reclaim or start whose reply was cut
        off by the stop, and jobs waiting to run alone), so none waits for the lease."""
        for d in self._isolated:
            self.held[d.queue].pop(d.token, None)
        self._isolated.clear()
        for q in self.queues:  # parked while the queue was paused: handed back too
            self._unpark(q)
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
            if self.is_paused(queue) or self._parked[queue]:
                await self._resume(queue, jobs)
            count = await self._wait_free()
            if self.is_paused(queue):  # paused while this loop waited for a free slot
                continue
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

    async def _resume(self, queue: str, jobs: Channel[Delivery]) -> None:
        """Wait while ``queue`` is paused, then start what was parked meanwhile."""
        await self._wait_resumed(queue)
        parked = self._unpark(queue)
        if parked:
            with self._taking():
                await self._admit(queue, parked, jobs)

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

    async def _burst_watch(self) -> None:
        while True:
            await anyio.sleep(0.1)
            if self.in_flight > self._parked_count:
                continue
            idle = True
            for q, backend in self.backends.items():
                if self.is_paused(q):  # counts as empty: a burst does not wait for a resume
                    continue
                try:
                    c = await backend.counts()
                except Outage.errors:
                    idle = False
                    break
                if c.backlog or c.in_flight or c.delayed:
                    idle = False
                    break
            if idle and self.in_flight <= self._parked_count:
                self.log.info("burst: queues are empty (or paused); stopping")
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
        if to_start and self.is_paused(queue):  # read just as the queue was paused
            self._park(queue, to_start)
        elif to_start:
            ready += await self._start_batch(queue, to_start)
        for d in ready:
            held[d.token] = d
            jobs.put(d)
        await self._admitted(ready)

    async def _admitted(self, ready: list[Delivery]) -> None:
        """After a batch is held and handed over (before any of it runs)."""
        if self._missed_cancels:  # almost always empty: one check per batch
            self._cancel_missed(ready)
        if self._unreported:
            await self._report_dead_letters()

    def _cancel_missed(self, ready: list[Delivery]) -> None:
        """Jobs cancelled while their start's reply was on its way (see ``_cancel_held``)."""
        for d in ready:
            if d.job_id in self._missed_cancels:
                self._executor.cancel(d)

    async def _start_batch(self, queue: str, to_start: list[Delivery]) -> list[Delivery]:
        """Count the attempts of jobs read, not yet started: those to run now."""
        ready = []
        for d, attempt in zip(to_start, await self._start(queue, to_start), strict=True):
            if attempt == ALONE:
                self._isolate(d)
                continue
            d.started, d.attempt = True, attempt
            if attempt > 0:
                ready.append(d)
            else:
                self._not_run(d)
        return ready

    async def _report_dead_letters(self) -> None:
        """Middleware ``on_dead_letter`` for the jobs the intake dead-lettered, once the jobs
        taken beside them are held (renewed) and handed to the executors."""
        unreported, self._unreported = self._unreported, []
        assert self._hooks is not None
        for d, failure in unreported:
            await self._hooks.dead_lettered(d, failure)

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
                # before the ack would charge that attempt; parked jobs are not started), no
                # take under way.
                while self.in_flight - self._parked_count > len(self._isolated) or self._in_intake:
                    await self._changed()
                d = self._isolated.pop(0)
                if self.is_paused(d.queue):  # started (alone) once its queue is resumed
                    self._parked[d.queue].append(d)
                    continue
                (attempt,) = await self._start(d.queue, [d], alone=True)
                if attempt <= 0:
                    self.held[d.queue].pop(d.token, None)
                    d.attempt = attempt
                    self._take(1)
                    self._not_run(d)
                    if self._unreported:
                        await self._report_dead_letters()
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
        """A delivery that must not run: already finished (0), just dead-lettered (-1), or
        just expired (its deadline passed before it started)."""
        self._give(1)
        if d.attempt == EXPIRED:
            self.stats.expired += 1
            job_id = d.job_id or self._payloads.peek_job_id(d.raw)
            self.log.info("job expired: not started before its deadline; not run",
                          job_id=job_id, queue=d.queue)  # fmt: skip
        elif d.attempt < 0:
            self.stats.failed += 1
            self.log.error(
                "job dead-lettered: it was started too many times without finishing "
                "(its worker crashed or was killed each time)",
                job_id=d.job_id or self._payloads.peek_job_id(d.raw),
                queue=d.queue,
            )
            if self._hooks is not None:
                self._unreported.append((d, Failure("WorkerLost", CRASHED)))

    def _prepare(self, d: Delivery) -> Failure | None:
        """Decode a delivery; the failure if it cannot run on this worker."""
        payloads = self._payloads
        try:
            env = payloads.decode_envelope(d.raw)
        except EnvelopeError as exc:
            d.job_id = d.job_id or payloads.peek_job_id(d.raw) or ""
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
        if payloads.rebuild is not None:  # a typed serializer: arguments from the type hints
            try:
                d.envelope = env = payloads.rebuild.arguments(task.name, task.fn, env)
            except RebuildError as exc:
                return Failure("ArgumentError", str(exc))
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
            if self._hooks is not None:
                self._unreported.append((d, failure))
        else:
            self.log.warning("job cannot run, and this worker no longer owns it (another worker "
                             "took it over); not dead-lettered here", error=failure.message,
                             **context)  # fmt: skip


__all__ = ["PRUNE_EVERY_S", "PRUNE_IDLE_MS", "Intake"]
