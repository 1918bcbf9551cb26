"""Cancel (issue 14, point 3) on both backends: a queued, scheduled, retrying or running job
never completes and is never retried; it ends ``cancelled``, ``result()`` raises JobCancelled;
cancelling a finished job changes nothing; cancelling an unknown job says so."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from rq_stream import (
    JobCancelled,
    JobContext,
    JobNotFound,
    JobStatus,
    Middleware,
    Retry,
    RqStream,
    Worker,
    current_job,
)
from rq_stream.client.task import Task

from .conftest import wait_until

Q = "work"


@asynccontextmanager
async def running(app: RqStream, **kw: object) -> AsyncIterator[Worker]:
    worker = Worker(app, queues=[Q], concurrency=4, handle_signals=False, **kw)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        yield worker
        worker.request_stop()


async def status_is(app: RqStream, job_id: str, status: JobStatus, timeout_s: float = 10) -> None:
    async def reached() -> bool:
        return await app.job(job_id, Q).status() == status

    await wait_until(reached, timeout_s, f"job {job_id} to be {status.value}")


async def nothing_left(app: RqStream) -> None:
    counts = await app.backend(Q).counts()
    assert (counts.backlog, counts.in_flight, counts.delayed, counts.dead) == (0, 0, 0, 0)


def counting_task(app: RqStream, runs: list[str]) -> Task[[int], int]:
    @app.task(queue=Q, name="counted")
    async def counted(x: int) -> int:
        runs.append("ran")
        return x

    return counted


async def test_a_queued_job_never_runs(qapp: RqStream) -> None:
    runs: list[str] = []
    counted = counting_task(qapp, runs)
    job = await counted.enqueue(1)
    other = await counted.enqueue(2)
    assert await job.cancel() is True
    assert await job.status() == JobStatus.CANCELLED
    with pytest.raises(JobCancelled, match=rf"job {job.id} \(queue 'work'\) was cancelled"):
        await job.result(timeout_s=1)
    await Worker(qapp, queues=[Q], burst=True, handle_signals=False).run()
    assert runs == ["ran"]  # only the other job
    assert await other.result(timeout_s=1) == 2
    assert await job.status() == JobStatus.CANCELLED
    assert 0 < await qapp.redis.ttl(qapp.keys.queue(Q).job(job.id)) <= 3600  # dropped: expires
    await nothing_left(qapp)


async def test_a_scheduled_job_never_runs(qapp: RqStream) -> None:
    runs: list[str] = []
    counted = counting_task(qapp, runs)
    job = await counted.options(delay_s=0.5).enqueue(1)
    assert await job.status() == JobStatus.SCHEDULED
    assert await qapp.cancel(job.id, queue=Q) is True
    assert await qapp.redis.zcard(qapp.keys.queue(Q).delayed) == 0
    async with running(qapp):
        await anyio.sleep(1.0)  # past its due time
    assert runs == []
    assert await job.status() == JobStatus.CANCELLED
    await nothing_left(qapp)


async def test_a_retrying_job_is_not_retried(qapp: RqStream) -> None:
    runs: list[str] = []

    @qapp.task(queue=Q, retries=5)
    async def flaky() -> None:
        runs.append("ran")
        raise Retry(delay_s=30)

    async with running(qapp):
        job = await flaky.enqueue()
        await status_is(qapp, job.id, JobStatus.RETRYING)
        assert await job.cancel() is True
    assert runs == ["ran"]
    info = await job.info()
    assert info.status == JobStatus.CANCELLED and info.attempts == 1
    with pytest.raises(JobCancelled):
        await job.result(timeout_s=1)
    await nothing_left(qapp)


async def test_a_running_async_task_sees_cancelled_error(qapp: RqStream) -> None:
    seen: list[str] = []

    @qapp.task(queue=Q, retries=3, timeout_s=30)  # inside the timeout's cancel scope
    async def slow() -> str:
        seen.append("started")
        try:
            await anyio.sleep(10)
        except BaseException as exc:
            seen.append(type(exc).__name__)
            raise
        seen.append("finished")
        return "done"

    async with running(qapp) as worker:
        job = await slow.enqueue()
        await status_is(qapp, job.id, JobStatus.RUNNING)
        t0 = time.monotonic()
        assert await job.cancel() is True
        with pytest.raises(JobCancelled):
            await job.result(timeout_s=5)

        async def released() -> bool:
            return worker.in_flight == 0

        await wait_until(released, 5, "the worker to ack the cancelled job")
        assert time.monotonic() - t0 < 9  # loosely: it did not sleep its 10 s
    assert seen == ["started", "CancelledError"]
    assert await job.status() == JobStatus.CANCELLED
    assert (await job.info()).attempts == 1  # not retried
    await nothing_left(qapp)


async def test_a_running_sync_task_sees_the_flag(qapp: RqStream) -> None:
    seen: list[str] = []

    @qapp.task(queue=Q, retries=3)
    def slow_sync() -> str:
        job = current_job()
        assert job is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if job.cancelled:
                seen.append("saw the flag")
                raise RuntimeError("stopped early")  # a failure after a cancel: not retried
            time.sleep(0.01)
        return "done"

    async with running(qapp) as worker:
        job = await slow_sync.enqueue()
        await status_is(qapp, job.id, JobStatus.RUNNING)
        assert await job.cancel() is True

        async def released() -> bool:
            return worker.in_flight == 0

        await wait_until(released, 8, "the worker to ack the cancelled job")
    assert seen == ["saw the flag"]
    info = await job.info()
    assert (info.status, info.attempts) == (JobStatus.CANCELLED, 1)
    assert await qapp.dead_letters(Q).list() == []
    await nothing_left(qapp)


async def test_cancelling_a_finished_job_changes_nothing(qapp: RqStream) -> None:
    runs: list[str] = []
    counted = counting_task(qapp, runs)
    job = await counted.enqueue(7)
    await Worker(qapp, queues=[Q], burst=True, handle_signals=False).run()
    assert await job.cancel() is False
    assert await job.status() == JobStatus.SUCCEEDED
    assert await job.result(timeout_s=1) == 7
    cancelled = await counted.enqueue(8)
    assert await cancelled.cancel() is True
    assert await cancelled.cancel() is False  # cancelled already
    assert await cancelled.status() == JobStatus.CANCELLED


async def test_cancelling_an_unknown_job_says_so(qapp: RqStream) -> None:
    with pytest.raises(JobNotFound) as err:
        await qapp.cancel("nope", queue=Q)
    assert str(err.value) == (
        "cannot cancel job 'nope': no such job in queue 'work' (never enqueued there, or its "
        "record expired)"
    )


async def test_a_cancelled_unique_job_frees_its_key(qapp: RqStream) -> None:
    @qapp.task(queue=Q, unique=True)
    async def once(x: int) -> int:
        return x

    first = await once.enqueue(1)
    assert await first.cancel() is True
    second = await once.enqueue(1)
    assert second.id != first.id


@pytest.mark.parametrize("settle", ["hand_back", "defer", "retry", "dead_letter", "complete"])
async def test_a_job_cancelled_while_held_ends_cancelled_however_it_is_settled(
    qapp: RqStream, settle: str
) -> None:
    """The worker missed the cancel (or meant to put the job back): every settling script ends
    a cancelled job as cancelled; it is never put back, retried or dead-lettered."""
    from rq_stream.backends.base import Completion, Failure

    runs: list[str] = []
    counted = counting_task(qapp, runs)
    job = await counted.enqueue(1)
    backend = qapp.backend(Q, "c1")
    await backend.prepare()
    (d,) = await backend.fetch(1, 100)
    d.job_id = job.id  # the worker learns it from the envelope (lists) or the entry (streams)
    (d.attempt,) = await backend.start([d])
    d.started = True
    assert await job.cancel() is True
    failure = Failure("RuntimeError", "boom")
    if settle == "hand_back":
        assert await backend.hand_back([d]) == 1
    elif settle == "defer":
        assert await backend.defer(d, 10) is True
    elif settle == "retry":
        assert await backend.retry(d, 0, failure) is True
    elif settle == "dead_letter":
        assert await backend.dead_letter(d, failure, "c1") is True
    else:
        assert (await backend.complete([Completion(d, b"\xc0")])).done == 1
    assert await job.status() == JobStatus.CANCELLED
    assert 0 < await qapp.redis.ttl(qapp.keys.queue(Q).job(job.id)) <= 3600
    await anyio.sleep(0.05)
    await backend.move_due(10)
    await nothing_left(qapp)
    with pytest.raises(JobCancelled):
        await job.result(timeout_s=1)


class Hooks(Middleware):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def on_start(self, job: JobContext) -> None:
        self.calls.append(("on_start", job.job_id))

    async def on_success(self, job: JobContext, result: object, duration_s: float) -> None:
        self.calls.append(("on_success", job.job_id))

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        self.calls.append(("on_failure", job.job_id))

    async def on_cancel(self, job: JobContext) -> None:
        self.calls.append(("on_cancel", job.job_id))


async def test_middleware_on_cancel_replaces_on_success_and_on_failure(qapp: RqStream) -> None:
    hooks = Hooks()
    qapp.add_middleware(hooks)

    @qapp.task(queue=Q)
    async def slow() -> None:
        await anyio.sleep(10)

    @qapp.task(queue=Q)
    def slow_sync() -> str:
        job = current_job()
        assert job is not None
        while not job.cancelled:
            time.sleep(0.01)
        return "returned after its cancel"

    async with running(qapp) as worker:
        jobs = [await slow.enqueue(), await slow_sync.enqueue()]
        for job in jobs:
            await status_is(qapp, job.id, JobStatus.RUNNING)
        for job in jobs:
            assert await job.cancel() is True

        async def released() -> bool:
            return worker.in_flight == 0

        await wait_until(released, 5, "the worker to ack the cancelled jobs")
    assert sorted(hooks.calls) == sorted(
        [(h, j.id) for j in jobs for h in ("on_start", "on_cancel")]
    )
    await nothing_left(qapp)


async def test_a_cancel_told_while_the_job_was_starting_is_not_lost(qapp: RqStream) -> None:
    """A worker told of a cancel for a job it does not hold remembers it briefly: a job whose
    start's reply was on its way is cancelled as soon as it is held."""
    from rq_stream.backends.base import Delivery

    counting_task(qapp, [])
    worker = Worker(qapp, queues=[Q], handle_signals=False)
    worker._cancel_held(Q, "j1", now=100.0)
    worker._cancel_held(Q, "j2", now=109.0)
    worker._cancel_held(Q, "j3", now=111.0)  # j1 is forgotten after 10 s
    assert sorted(worker._missed_cancels) == ["j2", "j3"]
    starting = Delivery(Q, "token", b"", job_id="j3", started=True, attempt=1)
    other = Delivery(Q, "token2", b"", job_id="j4", started=True, attempt=1)
    worker._cancel_missed([starting, other])
    assert (starting.cancelled, other.cancelled) == (True, False)
