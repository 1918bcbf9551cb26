"""The counters and histograms of one app, fed by a :class:`~rq_stream.Middleware`.

Producer side: ``before_enqueue`` counts ``rq_stream_jobs_enqueued_total``. Worker side: the
attempt hooks count started, succeeded, failed (every failed attempt), retried, dead-lettered
and cancelled jobs, and observe the job's duration and its queue wait (enqueue to first start).
Being a middleware, none of it runs when metrics are off. Expired jobs are not counted here: the
worker skips them before any hook (``rq-stream info`` counts them).

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
    "cancelled": "Jobs cancelled while a worker held them (before or while they ran).",
    "expired": "Jobs expired before they ran (not fed yet: no middleware hook sees them).",
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


class Children:
    """The label children of one (queue, task): looked up once, then one dict hit per hook
    (``labels()`` takes a lock and builds a key each time)."""

    __slots__ = ("cancelled", "dead", "duration", "enqueued", "failed", "retried", "started",
                 "succeeded", "wait")  # fmt: skip

    def __init__(self, f: Families, queue: str, task: str) -> None:
        c = f.counters
        self.enqueued = c["enqueued"].labels(queue, task)
        self.started = c["started"].labels(queue, task)
        self.succeeded = c["succeeded"].labels(queue, task)
        self.failed = c["failed"].labels(queue, task)
        self.retried = c["retried"].labels(queue, task)
        self.dead = c["dead_lettered"].labels(queue, task)
        self.cancelled = c["cancelled"].labels(queue, task)
        self.duration = f.duration.labels(queue, task)
        self.wait = f.queue_wait.labels(queue, task)


class MetricsMiddleware(Middleware):
    """Feeds :class:`Families`; ``known(task)`` says whether a task name is registered."""

    def __init__(self, families: Families, known: Callable[[str], bool]) -> None:
        self._known = known
        self._f = families
        self._cache: dict[tuple[str, str], Children] = {}

    def _of(self, queue: str, task: str) -> Children:
        found = self._cache.get((queue, task))
        if found is None:
            if not self._known(task):  # cached as "_unknown": garbage must not grow the cache
                task = UNKNOWN_TASK
                found = self._cache.get((queue, task))
            if found is None:
                found = self._cache[(queue, task)] = Children(self._f, queue, task)
        return found

    async def before_enqueue(self, job: EnqueueInfo) -> None:
        self._of(job.queue, job.task).enqueued.inc()

    async def on_start(self, job: JobContext) -> None:
        c = self._of(job.queue, job.task)
        c.started.inc()
        if job.attempt == 1 and job.enqueued_ms > 0:
            c.wait.observe(max(0.0, time.time() - job.enqueued_ms / 1000))

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        c = self._of(job.queue, job.task)
        c.succeeded.inc()
        c.duration.observe(duration_s)

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        c = self._of(job.queue, job.task)
        c.failed.inc()
        c.duration.observe(duration_s)

    async def on_retry(self, job: JobContext, exc: Exception, delay_s: float) -> None:
        self._of(job.queue, job.task).retried.inc()

    async def on_dead_letter(self, job: JobContext, exc: Exception) -> None:
        self._of(job.queue, job.task).dead.inc()

    async def on_cancel(self, job: JobContext) -> None:
        self._of(job.queue, job.task).cancelled.inc()


__all__ = ["UNKNOWN_TASK", "Children", "Families", "MetricsMiddleware"]
