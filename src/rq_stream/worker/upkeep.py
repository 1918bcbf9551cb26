"""The worker's upkeep beside its executors: lease renewal, the heartbeat (``info`` row,
backend liveness, shared job pace), per queue, the delayed mover woken by producers, and the
scheduler of the queues' cron and periodic tasks (:mod:`.scheduler`)."""

from __future__ import annotations

import functools
import math
import os
import socket
import time
from typing import Any

import anyio

from rq_stream import codec
from rq_stream.backends.schedules import ScheduleStore
from rq_stream.connect.notify import Inbox
from rq_stream.worker.resilience import Outage
from rq_stream.worker.scheduler import Scheduler
from rq_stream.worker.state import WorkerState

MISSED_CANCEL_S = 10.0
"""How long a cancel for a job this worker does not hold is remembered (see ``_cancel_held``)."""
INFO_EVERY_S = 1.0
"""The worker's ``rq-stream info`` row is rewritten this often (two allow-oom scripts)."""


class Upkeep(WorkerState):
    run_schedules = True
    """False: this worker neither stores nor ticks schedules (``run_until_idle`` sets it; burst
    workers never do)."""

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

    async def _cancel_loop(self, queue: str) -> None:
        """Stop the jobs of ``queue`` this worker holds when they are cancelled: one
        subscription to the queue's cancel channel (job_cancel.lua publishes a running job's
        id there), so a cancel reaches the worker at once and costs the other jobs nothing."""
        outage = Outage("listening for cancelled jobs", queue=queue)
        channel = self.app.keys.queue(queue).cancel_channel
        while True:
            try:
                async with self.app.channels.listen(channel) as inbox:
                    outage.recovered()
                    while True:
                        message = await inbox.next(math.inf)
                        if message is not None:
                            self._cancel_held(queue, message.decode())
            except outage.errors as exc:
                await outage.failed(exc)

    def _cancel_held(self, queue: str, job_id: str, now: float | None = None) -> None:
        for d in list(self.held[queue].values()):
            if d.job_id == job_id:
                self._executor.cancel(d)
                return
        # Not held here: another worker's, or one this worker is starting right now (its
        # start's reply not read yet). Remembered briefly for the latter.
        now = time.monotonic() if now is None else now
        missed = self._missed_cancels
        for old in [j for j, t in missed.items() if now - t > MISSED_CANCEL_S]:
            del missed[old]
        missed[job_id] = now

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

    @functools.cached_property
    def scheduler(self) -> Scheduler:
        """Ticks the schedules of this worker's queues (not in burst mode); its ``clock``
        decides which ticks are due."""
        app = self.app
        stores = {q: ScheduleStore(app.redis, app.scripts, app.keys.queue(q), b.kind)
                  for q, b in self.backends.items()}  # fmt: skip
        return Scheduler(stores, app.tasks, app.payloads, self.log,
                         max_payload_bytes=app.max_payload_bytes)  # fmt: skip

    async def _declare_schedules(self) -> None:
        """Store the schedules declared in code whose jobs go to this worker's queues (a new
        one ticks from now on; a changed one keeps its last tick), and tell the others."""
        now_ms, changed = int(time.time() * 1000), False
        try:
            for s in self.app.schedules.values():
                store = self.scheduler.stores.get(s.queue)
                if store is not None:
                    changed |= await store.put(s.name, s.encode(), now_ms)
            if changed:
                await self.app.redis.publish(self.app.keys.schedules_channel, "declared")
        except Outage.errors as exc:  # the stored ones still tick; the next start stores them
            self.log.warning("could not store the schedules declared in code", error=str(exc))

    async def _schedule_loop(self) -> None:
        await self.scheduler.run(self.app.channels, self.app.keys.schedules_channel)

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
                if self.slotted:  # some task has concurrency=N: renew the held slots too
                    await self._renew_slots(q)

    async def _renew_slots(self, queue: str) -> None:
        """Renew the concurrency slots of the jobs held from ``queue`` with their leases (a
        hold not renewed in time lapses, like a lease)."""
        try:
            await self._executor.slots.renew(queue, list(self.held[queue].values()))
        except Outage.errors as exc:
            self.log.warning("could not renew concurrency slots", queue=queue, error=str(exc))

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
            info = self._info()
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

    def _info(self) -> dict[str, Any]:
        """This worker's ``rq-stream info`` row."""
        held = self.in_flight
        running = min(self.running, held)
        return {
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


__all__ = ["INFO_EVERY_S", "Upkeep"]
