"""The queue gauges, read from Redis when Prometheus scrapes (a custom collector).

Each scrape runs ``rq-stream info``'s reads (:func:`rq_stream.client.admin.gather`) plus the
oldest waiting job of each queue, on a loop thread of the collector's own (a fork of the app's
context: redis-py clients belong to their loop), within ``timeout_s``. If Redis does not answer
in time, the scrape still answers at once: ``rq_stream_up 0`` and no queue gauges, and a warning
is logged. Nothing is read between scrapes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import anyio
import structlog
from anyio.from_thread import BlockingPortal, start_blocking_portal
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from rq_stream.client.admin import Snapshot, gather
from rq_stream.context import Context
from rq_stream.keys import GROUP
from rq_stream.metrics.lag import oldest_waiting_ms

log = structlog.get_logger("rq_stream.metrics")

QUEUE_GAUGES = {
    "rq_stream_queue_depth": ("backlog", "Jobs waiting to be taken."),
    "rq_stream_queue_delayed": ("delayed", "Jobs scheduled for later (delay_s, eta, retries)."),
    "rq_stream_queue_running": ("in_flight", "Jobs taken by workers and not finished yet."),
    "rq_stream_queue_dead_letters": ("dead", "Jobs in the dead-letter stream."),
}


@dataclass(frozen=True, slots=True)
class Reading:
    snapshot: Snapshot
    lag_s: dict[str, float]


class QueueCollector(Collector):
    """Gauges of every queue the server knows plus ``queues()``, read at scrape time."""

    def __init__(
        self, ctx: Context, queues: Callable[[], Iterable[str]] = tuple, timeout_s: float = 2.0
    ) -> None:
        self._ctx = ctx
        self._queues = queues
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._fork: Context | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families without values (for the registry's name check: no Redis read)."""
        yield GaugeMetricFamily("rq_stream_up", "")
        for name in (*QUEUE_GAUGES, "rq_stream_queue_lag_seconds", "rq_stream_workers_alive"):
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("rq_stream_up", "1 if Redis answered this scrape in time, else 0.")
        try:
            reading = self._portal_().call(self._read)
        except Exception as exc:  # an outage, a timeout: say so, do not fail the whole scrape
            log.warning("metrics: cannot read the queues from Redis", error=repr(exc),
                        timeout_s=self.timeout_s)  # fmt: skip
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families(reading)

    async def _read(self) -> Reading:
        if self._fork is None:
            self._fork = self._ctx.fork()
        ctx = self._fork
        with anyio.fail_after(self.timeout_s):
            snap = await gather(ctx, self._queues())
            now_ms = int(snap.at.timestamp() * 1000)
            lag_s: dict[str, float] = {}
            for q in snap.queues:
                if q.error is None:
                    oldest = await oldest_waiting_ms(ctx, q.name, q.backend, GROUP)
                    lag_s[q.name] = max(0.0, (now_ms - oldest) / 1000) if oldest else 0.0
        return Reading(snap, lag_s)

    def _portal_(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                self._stack = contextlib.ExitStack()
                self._portal = self._stack.enter_context(start_blocking_portal())
            return self._portal

    def close(self) -> None:
        """Stop the loop thread (a later scrape starts it again)."""
        with self._lock:
            portal, stack, fork = self._portal, self._stack, self._fork
            self._portal = self._stack = self._fork = None
        if portal is not None and stack is not None:
            if fork is not None:
                with contextlib.suppress(Exception):
                    portal.call(fork.close)
            stack.close()


def families(reading: Reading) -> Iterator[GaugeMetricFamily]:
    snap = reading.snapshot
    for name, (field, doc) in QUEUE_GAUGES.items():
        g = GaugeMetricFamily(name, doc, labels=["queue"])
        for q in snap.queues:
            if q.error is None:
                g.add_metric([q.name], getattr(q, field))
        yield g
    doc = "Age of the oldest job waiting to be taken (0: none waits)."
    lag = GaugeMetricFamily("rq_stream_queue_lag_seconds", doc, labels=["queue"])
    for queue, seconds in reading.lag_s.items():
        lag.add_metric([queue], seconds)
    yield lag
    alive = GaugeMetricFamily("rq_stream_workers_alive", "Worker processes with a live heartbeat.")
    alive.add_metric([], len(snap.workers))
    yield alive


__all__ = ["QUEUE_GAUGES", "QueueCollector", "Reading", "families"]
