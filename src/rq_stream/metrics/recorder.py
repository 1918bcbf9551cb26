"""The counters and histograms of one app, fed by a :class:`~rq_stream.Middleware`.

Producer side: ``before_enqueue`` counts ``rq_stream_jobs_enqueued_total``. Worker side: the
attempt hooks count started, succeeded, failed (every failed attempt), retried and
dead-lettered jobs, and observe the job's duration and its queue wait (enqueue to first start).
Being a middleware, none of it runs when metrics are off.

Labels are ``queue`` and ``task``. A task name this app has not registered (an undecodable
payload, a task only another service knows) is reported as ``task="_unknown"``, so a stream of
garbage cannot grow the label set; queues are the app's own (those it enqueues to, those its
workers serve).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from rq_stream.middleware import EnqueueInfo, Middleware
from rq_stream.worker.job_context import JobContext

UNKNOWN_TASK = "_unknown"
LABELS = ("queue", "task")
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

COUNTERS = {
    "enqueued": "Jobs enqueued by this producer (counted before they are sent).",
    "started": "Attempts started by workers.",
    "succeeded": "Attempts that returned (their result is stored).",
    "failed": "Attempts that failed (raised, timed out, unencodable result), retried or not.",
    "retried": "Failed attempts whose retry was scheduled.",
    "dead_lettered": "Jobs moved to the dead-letter stream.",
    "cancelled": "Jobs cancelled (not fed yet: the cancel status is being added).",
    "expired": "Jobs expired before they ran (not fed yet: the expiry status is being added).",
}


class Families:
    """The metric families, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counters = {
            name: Counter(f"rq_stream_jobs_{name}", doc, LABELS, registry=registry)
            for name, doc in COUNTERS.items()
        }
        self.duration = Histogram(
            "rq_stream_job_duration_seconds",
            "How long attempts ran (successful and failed).",
            LABELS,
            registry=registry,
            buckets=DURATION_BUCKETS,
        )
        self.queue_wait = Histogram(
            "rq_stream_job_queue_wait_seconds",
            "From enqueue to the first start (includes a delay_s or eta the job was given).",
            LABELS,
            registry=registry,
            buckets=WAIT_BUCKETS,
        )


class MetricsMiddleware(Middleware):
    """Feeds :class:`Families`; ``known(task)`` says whether a task name is registered."""

    def __init__(self, families: Families, known: Callable[[str], bool]) -> None:
        self._known = known
        self._f = families
        self._cache: dict[tuple[str, str, str], Any] = {}
        """Label children by (metric, queue, task): ``labels()`` takes a lock and builds a key."""

    def _child(self, metric: str, queue: str, task: str) -> Any:
        key = (metric, queue, task)
        child = self._cache.get(key)
        if child is None:
            name = task if self._known(task) else UNKNOWN_TASK
            family = (
                self._f.counters[metric] if metric in self._f.counters else getattr(self._f, metric)
            )
            child = self._cache[key] = family.labels(queue, name)
            if name == UNKNOWN_TASK:  # do not cache garbage names: the cache would grow
                del self._cache[key]
        return child

    async def before_enqueue(self, job: EnqueueInfo) -> None:
        self._child("enqueued", job.queue, job.task).inc()

    async def on_start(self, job: JobContext) -> None:
        self._child("started", job.queue, job.task).inc()
        if job.attempt == 1 and job.enqueued_ms > 0:
            wait_s = max(0.0, time.time() - job.enqueued_ms / 1000)
            self._child("queue_wait", job.queue, job.task).observe(wait_s)

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        self._child("succeeded", job.queue, job.task).inc()
        self._child("duration", job.queue, job.task).observe(duration_s)

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        self._child("failed", job.queue, job.task).inc()
        self._child("duration", job.queue, job.task).observe(duration_s)

    async def on_retry(self, job: JobContext, exc: Exception, delay_s: float) -> None:
        self._child("retried", job.queue, job.task).inc()

    async def on_dead_letter(self, job: JobContext, exc: Exception) -> None:
        self._child("dead_lettered", job.queue, job.task).inc()


__all__ = ["UNKNOWN_TASK", "Families", "MetricsMiddleware"]
