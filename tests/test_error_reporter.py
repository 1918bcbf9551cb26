"""workers/error_reporter.py, the Sentry-style middleware the README shows, really reports."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs
from workers.error_reporter import ErrorReporter, Report, build

from rq_stream import Worker
from tests.test_examples import run_module


def test_the_example_prints_its_reports(redis_url: str) -> None:
    done = run_module("workers.error_reporter", redis_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "order 7 charged",
        "reported failure: charge attempt 1: ConnectionError: payment gateway timed out for "
        "order 7",
        "reported failure: refund attempt 1: ValueError: order 8 was never charged",
        "reported dead_letter: refund attempt 1: ValueError: order 8 was never charged",
    ]


async def test_reports_carry_the_job_tags_and_go_to_the_log_by_default(
    redis_url: str, prefix: str
) -> None:
    reports: list[Report] = []
    app = build(redis_url, prefix, reports.append)
    app.add_middleware(ErrorReporter())  # the default sink: the log
    async with app:
        job = await app.tasks["refund"].enqueue(3)
        with capture_logs() as logs:
            await Worker(app, burst=True, handle_signals=False, name="w1").run()
    assert [r.kind for r in reports] == ["failure", "dead_letter"]
    assert reports[0].tags == {"job_id": job.id, "task": "refund", "queue": "default",
                               "attempt": "1", "worker": "w1"}  # fmt: skip
    assert "raise ValueError" in reports[1].traceback
    logged: list[dict[str, Any]] = [e for e in logs if e.get("report")]
    assert [(e["event"], e["report"], e["job_id"]) for e in logged] == [
        ("ValueError: order 3 was never charged", "failure", job.id),
        ("ValueError: order 3 was never charged", "dead_letter", job.id),
    ]
    assert all(e["log_level"] == "error" for e in logged)
