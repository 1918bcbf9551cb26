"""Concurrency admission: the worker's gate right before a job of a task with
``concurrency=N`` runs (the slots are :mod:`rq_stream.patterns.concurrency`'s). Tasks without
the option never reach it: no Redis command per job for them."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import anyio

from rq_stream.backends.base import Backend, Delivery
from rq_stream.client.task import Task
from rq_stream.patterns.concurrency import slot_name
from rq_stream.worker.admission import Gate
from rq_stream.worker.host import WorkerApp
from rq_stream.worker.resilience import Outage

WAIT_MS = (50, 250)
"""A refused job whose delayed set no freed slot can reach (it was enqueued to another queue
than its task's) comes back after a random time in this range (ms)."""
LISTED_WAIT_MS = 1000
"""A refused job listed as waiting comes back after about this long per N jobs waiting ahead
of it (up to ``MAX_WAIT_MS``), if no freed slot woke it first (a SIGKILLed holder's slot
frees by expiry, which wakes nobody)."""
MAX_WAIT_MS = 10_000


class Slot(NamedTuple):
    key: str
    waiting: str
    delayed: str
    """The delayed set of the task's queue, where a freed slot wakes the oldest waiter."""
    wake_channel: str


def token(d: Delivery) -> str:
    return f"{d.job_id}:{d.attempt}"


def wait_ms(waiting: int, limit: int, listed: bool) -> int:
    """How long a refused job waits at most before it asks again (jittered)."""
    if not listed:
        return random.randint(*WAIT_MS)
    ceiling = min(MAX_WAIT_MS, LISTED_WAIT_MS * math.ceil(waiting / limit))
    return random.randint(ceiling // 2, ceiling)


class SlotGate(Gate):
    """Takes a slot for a job of a task with ``concurrency``, or defers the job (``release``\\ d,
    its queue's delayed set woken), as :class:`~rq_stream.worker.admission.RateGate` does."""

    def __init__(
        self,
        app: WorkerApp,
        backends: Mapping[str, Backend],
        leases_ms: Mapping[str, int],
        release: Callable[[Delivery], None],
        wake_delayed: Callable[[str], None],
        log: Any,
    ) -> None:
        super().__init__(app, backends, release, wake_delayed, log)
        self._leases_ms = leases_ms

    def _slot(self, task: Task[Any, Any], d: Delivery) -> Slot:
        assert d.envelope is not None
        name = slot_name(task, d.envelope.args, d.envelope.kwargs)
        k = self._app.keys.queue(task.settings.queue)
        return Slot(k.slots(name), k.slots_waiting(name), k.delayed, k.wake_channel)

    async def acquire(self, task: Task[Any, Any], d: Delivery) -> bool:
        """True: ``d`` holds a slot (``d.slot``), run the job, then :meth:`free`. False: all N
        are held; the job went back to the delayed set (the attempt is not counted) and was
        released. Raises ``ConcurrencyKeyError`` from the key function."""
        limit = task.settings.concurrency
        assert limit is not None
        slot = self._slot(task, d)
        listed = d.queue == task.settings.queue  # its delayed set: the one slot_release reaches
        args = [token(d), limit, self._leases_ms[d.queue], d.job_id, int(listed)]
        outage = Outage("taking a concurrency slot", queue=d.queue)
        while True:
            try:
                waiting = await self._app.scripts.run("slot_acquire", slot[:2], args)
                break
            except outage.errors as exc:
                await outage.failed(exc)
        outage.recovered()
        if waiting == 0:
            d.slot = slot
            return True
        defer_ms = wait_ms(int(waiting), limit, listed)
        return await self._put_back(task, d, defer_ms, "job waits for a concurrency slot")

    async def free(self, d: Delivery) -> None:
        """Give back ``d``'s slot (its call ended, however) and wake the oldest waiter (due at
        once, the queue's delayed movers told).
        Shielded: a worker stopping still frees it; if Redis is out of reach the hold expires
        within the lease."""
        slot, d.slot = d.slot, None
        if slot is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                keys = (slot.key, slot.waiting, slot.delayed)
                await self._app.scripts.run("slot_release", keys, [token(d), slot.wake_channel])
            except Outage.errors as exc:
                self._log.warning("could not free a concurrency slot; it frees within the lease",
                                  job_id=d.job_id, queue=d.queue, error=str(exc))  # fmt: skip

    async def renew(self, queue: str, held: Sequence[Delivery]) -> None:
        """Renew the slots of the held jobs that have one, with their leases (one call per
        slot key: each is one key, Cluster-safe)."""
        by_key: dict[str, list[str]] = {}
        for d in held:
            if d.slot is not None:
                by_key.setdefault(d.slot.key, []).append(token(d))
        hold_ms = self._leases_ms[queue]
        for key, tokens in by_key.items():
            await self._app.scripts.run("slot_renew", (key,), [hold_ms, *tokens])


__all__ = ["LISTED_WAIT_MS", "MAX_WAIT_MS", "WAIT_MS", "Slot", "SlotGate"]
