"""Pausing a queue, on both backends, with an in-process worker: nothing of a paused queue
starts (not even what a blocking read returned as the pause came), enqueues go on, a resume
starts the queue again at once, ``info`` shows it, a burst worker treats it as empty."""

from __future__ import annotations

import anyio
import pytest

from rq_stream import JobStatus, RqStream, Task, Worker
from rq_stream.client import admin
from rq_stream.errors import ConfigurationError
from tests.contract.conftest import wait_until


def _task(app: RqStream) -> tuple[Task[[int], int], list[int]]:
    ran: list[int] = []

    @app.task(queue="work")
    async def note(i: int) -> int:
        ran.append(i)
        await anyio.sleep(0.05)
        return i

    return note, ran


async def _queue_info(app: RqStream) -> admin.QueueInfo:
    snapshot = await admin.gather(app.context, ["work"])
    (info,) = [q for q in snapshot.queues if q.name == "work"]
    return info


async def test_a_paused_queue_starts_nothing_until_resumed(qapp: RqStream) -> None:
    note, ran = _task(qapp)
    worker = Worker(qapp, queues=["work"], concurrency=2, handle_signals=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        first = await note.enqueue(0)
        assert await first.result(timeout_s=10) == 0
        assert await qapp.pause("work") is True
        assert await qapp.pause("work") is False  # already paused: nothing changes
        await wait_until(lambda: _true(worker.is_paused("work")), 5, "the worker to see it")
        # The worker was blocked reading the empty queue: what that read returns is held.
        jobs = [await note.enqueue(i) for i in range(1, 6)]
        await anyio.sleep(1.0)
        assert ran == [0]
        assert {await j.status() for j in jobs} == {JobStatus.QUEUED}
        assert [(await j.info()).attempts for j in jobs] == [0] * 5  # no attempt charged
        info = await _queue_info(qapp)
        assert info.paused and info.backlog + info.in_flight == 5
        assert await qapp.resume("work") is True
        assert await qapp.resume("work") is False
        with anyio.fail_after(10):
            assert [await j.result() for j in jobs] == [1, 2, 3, 4, 5]
        assert not (await _queue_info(qapp)).paused
        worker.request_stop()
    assert sorted(ran) == [0, 1, 2, 3, 4, 5]


async def _true(value: bool) -> bool:
    return value


async def test_a_worker_started_on_a_paused_queue_takes_nothing(qapp: RqStream) -> None:
    note, ran = _task(qapp)
    await qapp.pause("work")
    jobs = [await note.enqueue(i) for i in range(3)]
    worker = Worker(qapp, queues=["work"], handle_signals=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await anyio.sleep(0.8)
        assert ran == []
        await qapp.resume("work")
        with anyio.fail_after(10):
            assert [await j.result() for j in jobs] == [0, 1, 2]
        worker.request_stop()


async def test_a_stop_while_paused_hands_held_jobs_back(qapp: RqStream) -> None:
    note, ran = _task(qapp)
    worker = Worker(qapp, queues=["work"], handle_signals=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await wait_until(lambda: _true(bool(worker.backends)), 5, "the worker")
        await anyio.sleep(0.3)  # in its blocking read
        await qapp.pause("work")
        await wait_until(lambda: _true(worker.is_paused("work")), 5, "the worker to see it")
        job = await note.enqueue(7)
        await anyio.sleep(0.3)
        worker.request_stop()
    assert ran == []
    counts = await qapp.backend("work").counts()
    assert (counts.backlog, counts.in_flight) == (1, 0)  # handed back, not stuck pending
    await qapp.resume("work")
    with anyio.fail_after(10):
        await Worker(qapp, queues=["work"], burst=True, handle_signals=False).run()
    assert await job.result(timeout_s=1) == 7


async def test_a_burst_worker_counts_a_paused_queue_as_empty(qapp: RqStream) -> None:
    note, ran = _task(qapp)
    await note.enqueue(1)
    await qapp.pause("work")
    with anyio.fail_after(10):
        await Worker(qapp, queues=["work"], burst=True, handle_signals=False).run()
    assert ran == []
    assert (await qapp.backend("work").counts()).backlog == 1


async def test_pausing_a_bad_queue_name_says_so(qapp: RqStream) -> None:
    with pytest.raises(ConfigurationError, match="cannot pause or resume: queue must be 1 to"):
        await qapp.pause("no spaces")
