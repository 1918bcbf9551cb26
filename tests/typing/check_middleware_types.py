"""Type-checked (mypy --strict), not run: a middleware subclass as users write it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typing_extensions import assert_type

from rq_stream import EnqueueInfo, JobContext, Middleware, RqStream, WorkerInfo


class Metrics(Middleware):
    async def before_enqueue(self, job: EnqueueInfo) -> None:
        assert_type(job.job_id, str)
        assert_type(job.args, tuple[Any, ...])

    async def on_worker_start(self, worker: WorkerInfo) -> None:
        assert_type(worker.queues, tuple[str, ...])

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        assert_type(job.attempt, int)

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        pass


app = RqStream(middleware=[Metrics()])
app.add_middleware(Metrics())
assert_type(app.middleware, Sequence[Middleware])


class Wrong(Middleware):
    async def on_start(self, job: str) -> None:  # type: ignore[override]
        pass
