"""Rate-limit admission: the worker's gate right before a rate-limited job runs (the limits
themselves are :mod:`rq_stream.patterns.ratelimit`)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from rq_stream.backends.base import Backend, Delivery
from rq_stream.client.task import Task
from rq_stream.patterns.ratelimit import parse_rate, take, task_key
from rq_stream.worker.host import WorkerApp
from rq_stream.worker.resilience import Outage


class Gate:
    """What the admission gates share: a job they refuse goes back to its queue's delayed set
    (``defer``: the attempt is not counted), is ``release``\\ d, and the delayed mover is
    woken."""

    def __init__(
        self,
        app: WorkerApp,
        backends: Mapping[str, Backend],
        release: Callable[[Delivery], None],
        wake_delayed: Callable[[str], None],
        log: Any,
    ) -> None:
        self._app = app
        self._backends = backends
        self._release = release
        self._wake_delayed = wake_delayed
        self._log = log

    async def _put_back(self, task: Task[Any, Any], d: Delivery, defer_ms: int, why: str) -> bool:
        """Defer ``d`` by ``defer_ms`` (riding out outages), release it; False (not run)."""
        outage = Outage("deferring a job", queue=d.queue)
        while True:
            try:
                owned = await self._backends[d.queue].defer(d, defer_ms)
                break
            except outage.errors as exc:
                await outage.failed(exc)
        outage.recovered()
        self._log.debug(why, job_id=d.job_id, task=task.name, queue=d.queue, defer_ms=defer_ms,
                        owned=owned)  # fmt: skip
        self._release(d)
        self._wake_delayed(d.queue)
        return False


class RateGate(Gate):
    """Admits a job of a rate-limited task, or defers it (``release``\\ d, delayed set woken)."""

    async def admit(self, task: Task[Any, Any], d: Delivery) -> bool:
        """True: a slot was taken, run the job. False: the limit is reached; the job was moved
        to its queue's delayed set until a slot frees (the attempt is not counted) and
        released."""
        rate_limit = task.settings.rate_limit
        assert rate_limit is not None and d.envelope is not None
        rate = parse_rate(rate_limit)
        try:
            key = task_key(self._app.keys, task, d.envelope.args, d.envelope.kwargs)
        except Exception as exc:  # a broken rate_key must not stop the queue: use the task's limit
            self._log.error("rate_key failed; using the task-wide limit", task=task.name,
                            job_id=d.job_id, error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            key = self._app.keys.queue(task.settings.queue).rate(task.name)
        outage = Outage("checking a rate limit", queue=d.queue)
        while True:
            try:
                wait_ms = await take(self._app.scripts, key, rate)
                break
            except outage.errors as exc:
                await outage.failed(exc)
        outage.recovered()
        if wait_ms == 0:
            return True
        # Spread the waiters of one freed slot over one emission interval.
        wait_ms += int(random.uniform(0, rate.period_ms / rate.limit))
        return await self._put_back(task, d, wait_ms, "job deferred by its rate limit")


__all__ = ["Gate", "RateGate"]
