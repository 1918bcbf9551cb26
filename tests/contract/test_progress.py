"""Progress (issue 14, point 4) on both backends: report_progress stores the value on the job
record and publishes it; job.progress() reads the latest; job.watch() yields the updates, then
the final status, from an async task and from a thread."""

from __future__ import annotations

import time

import anyio
import pytest

from rq_stream import (
    JobContext,
    JobNotFound,
    JobStatus,
    Progress,
    RqStream,
    Worker,
    current_job,
)
from rq_stream.errors import ConfigurationError

from .test_cancel import Q, running


def check_updates(updates: list[Progress | JobStatus], last: Progress) -> None:
    """In order, each a report the task made, the last one always seen, then the status."""
    *progress, final = updates
    assert final == JobStatus.SUCCEEDED
    assert progress and progress[-1] == last
    values = [p.value for p in progress if isinstance(p, Progress)]
    assert values == sorted(values) and len(set(values)) == len(values)


async def test_an_async_task_reports_progress(qapp: RqStream) -> None:
    @qapp.task(queue=Q)
    async def resize(n: int) -> int:
        job = current_job()
        assert job is not None
        for i in range(1, n + 1):
            await anyio.sleep(0.02)
            job.report_progress(i / n, f"resized {i}/{n}")
        return n

    job = await resize.enqueue(5)
    assert await job.progress() is None
    updates: list[Progress | JobStatus] = []
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            async for update in job.watch():
                updates.append(update)

        tg.start_soon(watch)
        await anyio.sleep(0.2)  # watching before the job starts: every report is published
        async with running(qapp):
            assert await job.result(timeout_s=10) == 5
    check_updates(updates, Progress(1.0, "resized 5/5"))
    assert len(updates) >= 3  # most reports arrive one by one (close ones may merge)
    assert await job.progress() == Progress(1.0, "resized 5/5")
    assert (await job.info()).progress == Progress(1.0, "resized 5/5")


async def test_a_sync_task_reports_progress_from_its_thread(qapp: RqStream) -> None:
    @qapp.task(queue=Q)
    def export(n: int) -> int:
        job = current_job()
        assert job is not None
        for i in range(1, n + 1):
            time.sleep(0.02)
            job.report_progress(i / n, f"exported {i}/{n}")
        return n

    job = await export.enqueue(4)
    async with running(qapp):
        assert await job.result(timeout_s=10) == 4
    assert await job.progress() == Progress(1.0, "exported 4/4")
    # Watching a finished job: its latest progress, then its status.
    assert [u async for u in job.watch()] == [Progress(1.0, "exported 4/4"), JobStatus.SUCCEEDED]


async def test_a_watcher_joining_late_sees_the_latest_progress_first(qapp: RqStream) -> None:
    gate = anyio.Event()

    @qapp.task(queue=Q)
    async def step() -> str:
        job = current_job()
        assert job is not None
        job.report_progress(0.5, "half way")
        await gate.wait()
        return "ok"

    job = await step.enqueue()
    async with running(qapp):
        while await job.progress() is None:
            await anyio.sleep(0.02)
        seen: list[Progress | JobStatus] = []
        async for update in job.watch():
            seen.append(update)
            gate.set()
    assert seen == [Progress(0.5, "half way"), JobStatus.SUCCEEDED]


async def test_watching_a_cancelled_job_ends_cancelled(qapp: RqStream) -> None:
    @qapp.task(queue=Q)
    async def never() -> None: ...

    job = await never.options(delay_s=60).enqueue()
    await job.cancel()
    assert [u async for u in job.watch()] == [JobStatus.CANCELLED]


async def test_watching_an_unknown_job_says_so(qapp: RqStream) -> None:
    with pytest.raises(JobNotFound, match="no job 'nope' in queue 'work' to watch"):
        async for _ in qapp.job("nope", Q).watch():
            pass


def test_report_progress_checks_its_arguments() -> None:
    job = JobContext("j1", "t", "q", 1, "w")
    with pytest.raises(ConfigurationError) as err:
        job.report_progress(1.5)
    assert str(err.value) == "report_progress: value must be from 0 to 1, got 1.5"
    with pytest.raises(ConfigurationError, match=r"value must be a number from 0 to 1, got '1'"):
        job.report_progress("1")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"value must be from 0 to 1, got nan"):
        job.report_progress(float("nan"))
    with pytest.raises(ConfigurationError, match="message must be a str, got int"):
        job.report_progress(0.5, 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as err:
        job.report_progress(0.5)
    assert str(err.value) == (
        "report_progress is not available here (job j1): only in a task run by a worker, not "
        "in a process=True subprocess"
    )


async def test_unused_progress_costs_no_command(qapp: RqStream) -> None:
    """A worker whose tasks never report sends no progress script (the sender stays idle)."""

    @qapp.task(queue=Q)
    async def plain(x: int) -> int:
        return x

    jobs = await qapp.enqueue_many([plain.call(i) for i in range(50)])
    worker = Worker(qapp, queues=[Q], burst=True, handle_signals=False)
    await worker.run()
    assert [await j.result(timeout_s=1) for j in jobs] == list(range(50))
    assert worker._executor.progress.busy is False
    assert [await qapp.redis.hget(qapp.keys.queue(Q).job(j.id), "pg") for j in jobs] == [None] * 50
