"""The benchmark's no-op middleware (``BENCH_RQS_MIDDLEWARE=noop``): every hook is overridden
with ``pass``, so the worker and the producer await each one; what registering middleware costs
by itself."""

from __future__ import annotations

from typing import Any

from rq_stream import EnqueueInfo, JobContext, Middleware, WorkerInfo


class NoOp(Middleware):
    """Overrides every hook with ``pass``, so each one is awaited."""

    async def before_enqueue(self, job: EnqueueInfo) -> None:
        pass

    async def on_worker_start(self, worker: WorkerInfo) -> None:
        pass

    async def on_worker_stop(self, worker: WorkerInfo) -> None:
        pass

    async def on_start(self, job: JobContext) -> None:
        pass

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        pass

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        pass

    async def on_retry(self, job: JobContext, exc: Exception, delay_s: float) -> None:
        pass

    async def on_dead_letter(self, job: JobContext, exc: Exception) -> None:
        pass
