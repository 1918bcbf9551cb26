"""Concurrency admission: the worker's gate right before a job of a task with
``concurrency=N`` runs (the slots are :mod:`rq_stream.patterns.concurrency`'s). Tasks without
the option never reach it: no Redis command per job for them."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio

from rq_stream.backends.base import Backend, Delivery
from rq_stream.client.task import Task
from rq_stream.patterns.concurrency import slot_key
from rq_stream.worker.host import WorkerApp
from rq_stream.worker.resilience import Outage

WAIT_MS = (50, 250)
"""A job over its limit is put back in the delayed set for a random time in this range (ms):
short, so a freed slot is taken again soon; spread, so its waiters do not all come at once."""


def token(d: Delivery) -> str:
    return f"{d.job_id}:{d.attempt}"


class SlotGate:
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
        self._app = app
        self._backends = backends
        self._leases_ms = leases_ms
        self._release = release
        self._wake_delayed = wake_delayed
        self._log = log

    async def acquire(self, task: Task[Any, Any], d: Delivery) -> bool:
        """True: ``d`` holds a slot (``d.slot`` names it), run the job, then :meth:`free`.
        False: all N are held; the job went back to the delayed set (the attempt is not
        counted) and was released. Raises ``ConcurrencyKeyError`` from the key function."""
        limit = task.settings.concurrency
        assert limit is not None and d.envelope is not None
        key = slot_key(self._app.keys, task, d.envelope.args, d.envelope.kwargs)
        args = [token(d), limit, self._leases_ms[d.queue]]
        outage = Outage("taking a concurrency slot", queue=d.queue)
        while True:
            try:
                if await self._app.scripts.run("slot_acquire", (key,), args):
                    d.slot = key
                    outage.recovered()
                    return True
                wait_ms = random.randint(*WAIT_MS)
                owned = await self._backends[d.queue].defer(d, wait_ms)
                break
            except outage.errors as exc:
                await outage.failed(exc)
        outage.recovered()
        self._log.debug("job waits for a concurrency slot", job_id=d.job_id, task=task.name,
                        queue=d.queue, defer_ms=wait_ms, owned=owned)  # fmt: skip
        self._release(d)
        self._wake_delayed(d.queue)
        return False

    async def free(self, d: Delivery) -> None:
        """Give back ``d``'s slot (its call ended, however). Shielded: a worker stopping still
        frees it; if Redis is out of reach the hold expires within the lease."""
        key, d.slot = d.slot, ""
        if not key:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                await self._app.scripts.run("slot_release", (key,), [token(d)])
            except Outage.errors as exc:
                self._log.warning("could not free a concurrency slot; it frees within the lease",
                                  job_id=d.job_id, queue=d.queue, error=str(exc))  # fmt: skip

    async def renew(self, queue: str, held: Sequence[Delivery]) -> None:
        """Renew the slots of the held jobs that have one, with their leases (one call per
        slot key: each is one key, Cluster-safe)."""
        by_key: dict[str, list[str]] = {}
        for d in held:
            if d.slot:
                by_key.setdefault(d.slot, []).append(token(d))
        hold_ms = self._leases_ms[queue]
        for key, tokens in by_key.items():
            await self._app.scripts.run("slot_renew", (key,), [hold_ms, *tokens])


__all__ = ["WAIT_MS", "SlotGate"]
