"""Static typing test for cancel and progress: run by mypy (``make typecheck``), never executed."""

from __future__ import annotations

from typing_extensions import assert_type

from rq_stream import JobStatus, Progress, RqStream, current_job

app = RqStream("redis://127.0.0.1:6379/0", prefix="typing")


@app.task
async def resize(n: int) -> int:
    job = current_job()
    assert job is not None
    job.report_progress(0.5, "half")
    assert_type(job.cancelled, bool)
    assert_type(job.is_cancelled(), bool)
    job.report_progress("half")  # type: ignore[arg-type]
    return n


async def check() -> None:
    job = await resize.enqueue(3)
    assert_type(await job.cancel(), bool)
    assert_type(await app.cancel(job.id, queue="default"), bool)
    assert_type(await job.progress(), Progress | None)
    async for update in job.watch():
        assert_type(update, Progress | JobStatus)
        if isinstance(update, Progress):
            assert_type(update.value, float)
            assert_type(update.message, str)
