"""A Sentry-style error reporter as rq_stream middleware: every failed attempt and every dead
letter becomes a report, tagged with the job (task, queue, attempt, job id, worker).

    REDIS_URL=redis://127.0.0.1:6379/0 python -m workers.error_reporter

runs two jobs through a burst worker (one fails once then succeeds, one always fails) and prints
the reports. ``ErrorReporter()`` with no sink writes each report to the log (structlog, at
ERROR); pass ``sink=`` to send them elsewhere (a test list, an HTTP client). With Sentry, the
sink is ``sentry_sdk.capture_exception`` inside a scope carrying the tags (see the README's
"Middleware" section).
"""

from __future__ import annotations

import os
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from rq_stream import Backoff, JobContext, Middleware, RqStream, Worker, current_job

log = structlog.get_logger("error_reporter")


@dataclass(frozen=True)
class Report:
    kind: str
    """"failure" (an attempt failed; it may be retried) or "dead_letter" (the job gave up)."""
    exc: Exception
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{type(self.exc).__name__}: {self.exc}"

    @property
    def traceback(self) -> str:
        return "".join(traceback.format_exception(self.exc))


def log_sink(report: Report) -> None:
    log.error(report.title, report=report.kind, **report.tags, exception=report.traceback)


class ErrorReporter(Middleware):
    """Reports failures and dead letters to ``sink`` (default: the log)."""

    def __init__(self, sink: Callable[[Report], None] = log_sink) -> None:
        self.sink = sink

    @staticmethod
    def tags(job: JobContext) -> dict[str, str]:
        return {"job_id": job.job_id, "task": job.task, "queue": job.queue,
                "attempt": str(job.attempt), "worker": job.worker}  # fmt: skip

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        self.sink(Report("failure", exc, self.tags(job)))

    async def on_dead_letter(self, job: JobContext, exc: Exception) -> None:
        self.sink(Report("dead_letter", exc, self.tags(job)))


def build(url: str | None, prefix: str, sink: Callable[[Report], None]) -> RqStream:
    app = RqStream(url, prefix=prefix, middleware=[ErrorReporter(sink)])
    quick = Backoff(base_s=0.05, jitter=False)

    @app.task(name="charge", retries=1, backoff=quick)
    async def charge(order_id: int) -> str:
        job = current_job()
        if job is not None and job.attempt == 1:
            raise ConnectionError(f"payment gateway timed out for order {order_id}")
        return f"order {order_id} charged"

    @app.task(name="refund", retries=0)
    async def refund(order_id: int) -> None:
        raise ValueError(f"order {order_id} was never charged")

    return app


async def main() -> None:
    reports: list[Report] = []
    app = build(os.environ.get("REDIS_URL"), f"error-reporter-{uuid.uuid4().hex[:8]}",
                reports.append)  # fmt: skip
    async with app:
        charged = await app.tasks["charge"].enqueue(7)
        await app.tasks["refund"].enqueue(8)
        await Worker(app, concurrency=4, burst=True, handle_signals=False).run()
        print(await charged.result(timeout_s=5))
        for r in reports:
            print(f"reported {r.kind}: {r.tags['task']} attempt {r.tags['attempt']}: {r.title}")
        await app.redis.delete(*[k async for k in app.redis.scan_iter(f"{app.prefix}*")])


if __name__ == "__main__":
    import anyio

    anyio.run(main)
