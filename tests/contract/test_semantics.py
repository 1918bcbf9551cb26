"""Retries, backoff, delays, timeouts, reclaim, renewal and dead letters, in-process and fast:
every interval is injected, nothing sleeps for seconds."""

from __future__ import annotations

import random

import anyio
import pytest

from rq_stream import Backoff, JobStatus, Retry, RqStream, TaskFailed, Worker
from rq_stream.backends.base import Delivery

from .conftest import wait_until

FAST = Backoff(base_s=0.01, cap_s=0.05, jitter=False)


def burst(app: RqStream, **kw: object) -> Worker:
    options: dict[str, object] = {"concurrency": 10, "delayed_max_sleep_s": 0.02}
    options.update(kw)
    return Worker(app, queues=["work"], burst=True, handle_signals=False, **options)  # type: ignore[arg-type]


async def test_retries_with_backoff_then_success(qapp: RqStream) -> None:
    calls: list[int] = []

    @qapp.task(queue="work", retries=3, backoff=FAST)
    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "ok"

    job = await flaky.enqueue()
    await burst(qapp).run()
    assert await job.result(timeout_s=2) == "ok"
    info = await job.info()
    assert (info.attempts, len(calls)) == (3, 3)
    assert info.error is not None and info.error["type"] == "ConnectionError"


async def test_retries_exhausted_go_to_dead_letters(qapp: RqStream) -> None:
    @qapp.task(queue="work", retries=2, backoff=FAST)
    async def always_fails(n: int) -> None:
        raise RuntimeError(f"broken {n}")

    job = await always_fails.enqueue(5)
    await burst(qapp).run()
    with pytest.raises(TaskFailed, match="RuntimeError: broken 5"):
        await job.result(timeout_s=2)
    (letter,) = await qapp.dead_letters("work").list()
    assert (letter.job_id, letter.exc_type, letter.message, letter.attempts) == (
        job.id, "RuntimeError", "broken 5", 3,
    )  # fmt: skip
    assert letter.args == [5]
    assert "raise RuntimeError" in letter.traceback
    assert letter.first_at <= letter.last_at


async def test_no_retry_on_and_explicit_retry(qapp: RqStream) -> None:
    seen: list[str] = []

    @qapp.task(queue="work", retries=5, backoff=FAST, no_retry_on=(KeyError,))
    async def picky(kind: str) -> str:
        seen.append(kind)
        if kind == "fatal":
            raise KeyError("missing")
        if seen.count(kind) == 1:
            raise Retry(delay_s=0.05, reason="not yet")
        return kind

    fatal = await picky.enqueue("fatal")
    later = await picky.enqueue("later")
    await burst(qapp).run()
    with pytest.raises(TaskFailed, match="KeyError"):
        await fatal.result(timeout_s=2)
    assert seen.count("fatal") == 1
    assert await later.result(timeout_s=2) == "later"
    assert (await later.info()).attempts == 2


async def test_timeout_counts_as_failure_and_retries(qapp: RqStream) -> None:
    durations = [1.0, 0.0]

    @qapp.task(queue="work", timeout_s=0.1, retries=1, backoff=FAST)
    async def sometimes_slow() -> str:
        await anyio.sleep(durations.pop(0))
        return "fast enough"

    job = await sometimes_slow.enqueue()
    await burst(qapp).run()
    assert await job.result(timeout_s=2) == "fast enough"
    info = await job.info()
    assert info.attempts == 2
    assert info.error is not None and info.error["type"] == "TaskTimeout"
    assert "timeout_s=0.1" in info.error["message"]


async def test_timeout_without_retries_dead_letters(qapp: RqStream) -> None:
    @qapp.task(queue="work", timeout_s=0.05)
    async def hangs() -> None:
        await anyio.sleep(10)

    job = await hangs.enqueue()
    await burst(qapp).run()
    with pytest.raises(TaskFailed, match="TaskTimeout"):
        await job.result(timeout_s=2)


async def test_delay_and_at(qapp: RqStream) -> None:
    from datetime import datetime, timedelta, timezone

    @qapp.task(queue="work")
    async def now() -> float:
        return anyio.current_time()

    t0 = anyio.current_time()
    delayed = await now.options(delay_s=0.3).enqueue()
    at = await now.options(at=datetime.now(timezone.utc) + timedelta(seconds=0.2)).enqueue()
    assert await delayed.status() is JobStatus.SCHEDULED
    await burst(qapp).run()
    assert await delayed.result(timeout_s=2) - t0 >= 0.28
    assert await at.result(timeout_s=2) - t0 >= 0.18


async def test_many_movers_never_duplicate_or_lose(qapp: RqStream) -> None:
    @qapp.task(queue="work")
    async def noop(i: int) -> int:
        return i

    await qapp.enqueue_many([noop.options(delay_s=0.05).call(i) for i in range(600)])
    await anyio.sleep(0.1)
    backend = qapp.backend("work")
    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(backend.move_due, 50)
    while (await backend.move_due(50)) == 0:
        pass
    c = await backend.counts()
    assert (c.backlog, c.delayed) == (600, 0)


async def test_reclaims_jobs_of_a_dead_consumer(qapp: RqStream, backend: str) -> None:
    @qapp.task(queue="work")
    async def add(x: int, y: int) -> int:
        return x + y

    jobs = await qapp.enqueue_many([add.call(i, i) for i in range(10)])
    ghost = qapp.backend("work", consumer="ghost")
    await ghost.heartbeat(100)
    taken: list[Delivery] = []
    while len(taken) < 10:
        taken += await ghost.fetch(10, 100)
    assert (await ghost.counts()).in_flight == 10
    await anyio.sleep(0.2)  # the ghost never acks, never beats again
    await burst(qapp, lease_s=0.15, reclaim_interval_s=0.05, heartbeat_s=0.05).run()
    assert [await j.result(timeout_s=2) for j in jobs] == [2 * i for i in range(10)]


async def test_renewal_keeps_a_slow_job_from_being_reclaimed(qapp: RqStream) -> None:
    runs: list[int] = []

    @qapp.task(queue="work")
    async def slow() -> str:
        runs.append(1)
        await anyio.sleep(0.8)
        return "once"

    job = await slow.enqueue()
    options = {"lease_s": 0.2, "reclaim_interval_s": 0.05, "heartbeat_s": 0.05}
    async with anyio.create_task_group() as tg:
        tg.start_soon(burst(qapp, **options).run)
        tg.start_soon(burst(qapp, **options).run)
    assert await job.result(timeout_s=2) == "once"
    assert len(runs) == 1
    assert (await job.info()).attempts == 1


async def test_replay_keeps_id_and_history(qapp: RqStream) -> None:
    fail = [True]

    @qapp.task(queue="work")
    async def fragile(x: int) -> int:
        if fail[0]:
            raise ValueError("not today")
        return x

    job = await fragile.enqueue(3)
    await burst(qapp).run()
    dlq = qapp.dead_letters("work")
    (letter,) = await dlq.list()
    assert (await dlq.get(job.id)) == letter
    assert (await dlq.get(letter.id)) == letter
    fail[0] = False
    assert await dlq.replay(letter.id) == 1
    assert await dlq.count() == 0
    await burst(qapp).run()
    assert await job.result(timeout_s=2) == 3
    info = await job.info()
    assert (info.replays, info.total_attempts, info.attempts) == (1, 2, 1)


async def test_replay_by_filter_and_purge(qapp: RqStream) -> None:
    @qapp.task(queue="work")
    async def fails(kind: str) -> None:
        raise (KeyError if kind == "key" else ValueError)(kind)

    await qapp.enqueue_many([fails.call(random.choice(["key", "value"])) for _ in range(20)])
    await burst(qapp).run()
    dlq = qapp.dead_letters("work")
    letters = await dlq.all()
    keys = [x for x in letters if x.exc_type == "KeyError"]
    assert await dlq.replay_where(lambda x: x.exc_type == "KeyError") == len(keys)
    c = await qapp.backend("work").counts()
    assert (c.backlog, c.dead) == (len(keys), 20 - len(keys))
    assert await dlq.purge() == 20 - len(keys)
    assert await dlq.count() == 0


async def test_unknown_task_is_dead_lettered_and_others_run(qapp: RqStream, redis_url: str) -> None:
    other = RqStream(redis_url, prefix=qapp.prefix)
    other.queue("work", backend=qapp.queue_config("work").backend)

    @other.task(queue="work", name="only.on.other")
    async def elsewhere() -> None:
        return None

    @qapp.task(queue="work")
    async def here() -> str:
        return "here"

    async with other:
        missing = await elsewhere.enqueue()
    ok = await here.enqueue()
    await burst(qapp).run()
    assert await ok.result(timeout_s=2) == "here"
    with pytest.raises(TaskFailed, match="no task named 'only.on.other' is registered"):
        await missing.result(timeout_s=2)


async def test_graceful_stop_hands_back_and_waits_for_short_jobs(qapp: RqStream) -> None:
    @qapp.task(queue="work")
    async def nap(seconds: float) -> float:
        await anyio.sleep(seconds)
        return seconds

    short = await nap.enqueue(0.1)
    long = await nap.enqueue(5.0)
    worker = Worker(qapp, queues=["work"], concurrency=2, grace_s=0.4, handle_signals=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)

        async def both_running() -> bool:
            return worker.in_flight == 2 and await long.status() is JobStatus.RUNNING

        await wait_until(both_running, 5, "both jobs to start")
        worker.request_stop()
    assert await short.result(timeout_s=1) == 0.1
    assert await long.status() is JobStatus.QUEUED
    assert (worker.stats.completed, worker.stats.handed_back) == (1, 1)
    assert (await long.info()).attempts == 0
