"""Unique jobs: a duplicate enqueue returns the live job; uniqueness ends with the job."""

from __future__ import annotations

import anyio
import pytest

from rq_stream import Job, JobStatus, RqStream, TaskFailed, Worker
from rq_stream.errors import ConfigurationError, EnqueueError
from rq_stream.patterns.unique import identity
from tests.apps import patterns_app
from tests.conftest import Procs

TARGET = "tests.apps.patterns_app:app"


def burst(app: RqStream) -> Worker:
    return Worker(app, concurrency=10, burst=True, handle_signals=False)


async def test_duplicate_returns_live_job_and_frees_after_completion(app: RqStream) -> None:
    @app.task(unique=True)
    async def sync_account(account_id: int, full: bool = False) -> int:
        return account_id

    first = await sync_account.enqueue(1)
    assert await sync_account.enqueue(1) == first
    assert await sync_account.enqueue(account_id=1, full=False) == first  # same call, by name
    other = await sync_account.enqueue(2)
    assert other != first
    assert await sync_account.enqueue(1, full=True) != first  # other arguments, other job
    await burst(app).run()
    assert await first.result(timeout_s=5) == 1
    again = await sync_account.enqueue(1)
    assert again != first  # the first one ended: uniqueness is free again
    assert await again.status() is JobStatus.QUEUED


async def test_concurrent_enqueues_make_one_job(app: RqStream) -> None:
    @app.task(unique=True)
    async def rebuild(index: str) -> str:
        return index

    jobs: list[Job[str]] = []

    async def enqueue() -> None:
        jobs.append(await rebuild.enqueue("products"))

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(enqueue)
    assert len({j.id for j in jobs}) == 1
    assert (await app.backend("default").counts()).backlog == 1


async def test_unique_key_function_and_batch(app: RqStream) -> None:
    @app.task(unique=lambda order_id, **_: order_id)
    async def ship(order_id: int, note: str) -> str:
        return note

    jobs = await app.enqueue_many([ship.call(7, "a"), ship.call(7, "b"), ship.call(8, "c")])
    assert jobs[0] == jobs[1] != jobs[2]
    await burst(app).run()
    assert await jobs[1].result(timeout_s=5) == "a"  # the live job's own arguments

    @app.task(unique=lambda n: 100 // n)
    async def divide(n: int) -> None: ...

    with pytest.raises(EnqueueError, match=r"unique key function of task .*divide.* failed: Zero"):
        await divide.enqueue(0)


async def test_dead_letter_frees_uniqueness(app: RqStream) -> None:
    @app.task(unique=True)
    async def fails(n: int) -> None:
        raise ValueError(f"no {n}")

    job = await fails.enqueue(1)
    await burst(app).run()
    with pytest.raises(TaskFailed):
        await job.result(timeout_s=5)
    assert await fails.enqueue(1) != job


async def test_uniqueness_has_a_ttl(app: RqStream) -> None:
    @app.task(unique=True, unique_ttl_s=120)
    async def task(x: int) -> None:
        return None

    await task.enqueue(1)
    digest = identity(task, (1,), {})
    assert digest is not None
    ttl = await app.redis.ttl(app.keys.queue("default").unique(digest))
    assert 0 < ttl <= 120
    with pytest.raises(ConfigurationError, match="unique_ttl_s must be >= 1"):

        @app.task(unique=True, unique_ttl_s=0)
        async def bad() -> None: ...


async def test_unique_with_worker_processes(redis_url: str, prefix: str, procs: Procs) -> None:
    async with patterns_app.configure(redis_url, prefix) as client:
        jobs = [await patterns_app.sync_account.enqueue(5) for _ in range(10)]
        assert len({j.id for j in jobs}) == 1
        for _ in range(2):
            procs.worker(TARGET, redis_url, prefix, "--queues", "unique", "-c", "5")
        assert await jobs[0].result(timeout_s=20) == 5
        later = await patterns_app.sync_account.enqueue(5)
        assert later != jobs[0]
        assert await later.result(timeout_s=20) == 5
        assert client is patterns_app.app
