"""Static typing test of the sync producers and the testing kit: run by mypy, never executed.

The lines marked ``type: ignore[...]`` prove that a wrong argument is a type error (mypy's
``warn_unused_ignores`` fails the check if they stop being errors).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from rq_stream import JobInfo, JobStatus, RqStream, SyncClient, SyncJob
from rq_stream.testing import RunReport, bind, run_until_idle

app = RqStream("redis://127.0.0.1:6379/0", prefix="typing")


@app.task
async def add(x: int, y: int) -> int:
    return x + y


def view() -> None:
    job = add.enqueue_sync(1, 2)
    assert_type(job, SyncJob[int])
    assert_type(job.result(timeout_s=5), int)
    assert_type(job.status(), JobStatus)
    assert_type(job.info(), JobInfo)
    assert_type(add.options(delay_s=1).enqueue_sync(1, 2), SyncJob[int])
    assert_type(app.sync.enqueue(add, 1, 2), SyncJob[int])
    assert_type(app.sync.enqueue(add.options(job_id="x"), 1, 2), SyncJob[int])
    assert_type(app.sync.enqueue_many([add.call(1, 2)]), list[SyncJob[Any]])
    assert_type(app.sync.job("id"), SyncJob[Any])
    with SyncClient(app) as client:
        assert_type(client.enqueue(add, 3, 4).result(), int)

    add.enqueue_sync(1, "2")  # type: ignore[arg-type]
    add.enqueue_sync(1)  # type: ignore[call-arg]
    app.sync.enqueue(add, 1, "2")  # type: ignore[arg-type]
    add.options(delay_s=1).enqueue_sync(1, 2, 3)  # type: ignore[call-arg]


async def a_test(url: str) -> None:
    async with bind(app, url) as bound:
        assert_type(bound, RqStream)
        assert_type(await run_until_idle(bound, delayed="leave"), RunReport)
        await run_until_idle(bound, delayed="later")  # type: ignore[arg-type]
