"""The lists backend on a real redis-server: round trips, gates, the reaper, real crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
import pytest

from rq_stream import JobStatus, RqStream, TaskFailed, Worker
from rq_stream.backends.base import ALONE, Completion, Delivery, Failure, NewJob
from rq_stream.backends.lists import ListsBackend, server_has_command
from rq_stream.codec import Envelope, encode_envelope
from tests.apps import lists_app
from tests.conftest import ROOT, Procs

Q = lists_app.QUEUE


def backend(app: RqStream, consumer: str, *, blmove: bool | None = None) -> ListsBackend:
    return ListsBackend(
        app.redis, app.blocking_redis, app.scripts, app.keys.queue(Q), consumer, blmove=blmove
    )


def burst(app: RqStream, **kw: object) -> Worker:
    options: dict[str, object] = {"heartbeat_s": 0.1, "reclaim_interval_s": 0.05}
    options.update(kw)
    return Worker(app, queues=[Q], concurrency=10, burst=True, handle_signals=False, **options)  # type: ignore[arg-type]


def new_jobs(n: int, task: str = "lists.add") -> list[NewJob]:
    jobs = []
    for i in range(n):
        job_id = f"job{i}"
        payload = encode_envelope(Envelope(job_id, task, (i, i), {}, 0, None))
        jobs.append(NewJob(job_id, task, payload))
    return jobs


def prepared(deliveries: list[Delivery]) -> list[Delivery]:
    """What the runtime does before ``start``: read the job id from the envelope."""
    from rq_stream.codec import decode_envelope

    for d in deliveries:
        d.job_id = decode_envelope(d.raw).job_id
        d.max_attempts = 2
    return deliveries


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def lapp(redis_url: str, prefix: str) -> RqStream:
    return lists_app.build(redis_url, prefix)


def spawn(
    procs: Procs, url: str, prefix: str, *, heartbeat_s: float = 0.1, **env: str
) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "REDIS_URL": url,
        "RQ_STREAM_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
        "RQS_HEARTBEAT_S": str(heartbeat_s),
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.apps.lists_app"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    procs.procs.append(proc)
    return proc


def output(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    return proc.stdout.read().decode(errors="replace")


# --------------------------------------------------------------------------- through the app
async def test_round_trip_through_the_app(app: RqStream) -> None:
    app.queue("q", backend="lists")

    @app.task(queue="q", result_ttl_s=60)
    async def add(x: int, y: int) -> int:
        return x + y

    jobs = await app.enqueue_many([add.call(i, 1) for i in range(50)])
    k = app.keys.queue("q")
    assert await app.redis.llen(k.pending) == 50
    assert not await app.redis.exists(k.stream)
    assert await jobs[0].status() is JobStatus.QUEUED
    await Worker(app, queues=["q"], concurrency=5, burst=True, handle_signals=False).run()
    assert [await j.result(timeout_s=5) for j in jobs] == [i + 1 for i in range(50)]
    info = await jobs[0].info()
    assert (info.status, info.attempts, info.total_attempts) == (JobStatus.SUCCEEDED, 1, 1)
    counts = await app.backend("q").counts()
    assert (counts.backlog, counts.in_flight, counts.delayed, counts.dead) == (0, 0, 0, 0)
    assert await app.redis.hget(k.stats, "completed") == b"50"
    assert await app.redis.scard(k.consumers) == 0, "a worker that stopped cleanly left the set"


async def test_job_id_idempotent_and_delayed(app: RqStream) -> None:
    app.queue("q", backend="lists")

    @app.task(queue="q")
    async def add(x: int, y: int) -> int:
        return x + y

    a = await add.options(job_id="order-1").enqueue(1, 2)
    b = await add.options(job_id="order-1").enqueue(5, 5)
    later = await add.options(delay_s=0.2).enqueue(2, 2)
    assert a == b
    assert await app.redis.llen(app.keys.queue("q").pending) == 1
    assert await later.status() is JobStatus.SCHEDULED
    await Worker(
        app, queues=["q"], burst=True, handle_signals=False, delayed_max_sleep_s=0.05
    ).run()
    assert await a.result(timeout_s=2) == 3
    assert await later.result(timeout_s=2) == 4


async def test_retries_then_dead_letter_then_replay(app: RqStream) -> None:
    from rq_stream import Backoff

    app.queue("q", backend="lists")
    calls: list[int] = []

    @app.task(queue="q", retries=2, backoff=Backoff(base_s=0.02, cap_s=0.05))
    async def flaky(n: int) -> int:
        calls.append(n)
        raise ConnectionError(f"down {len(calls)}")

    job = await flaky.enqueue(7)
    await Worker(
        app, queues=["q"], burst=True, handle_signals=False, delayed_max_sleep_s=0.02
    ).run()
    assert calls == [7, 7, 7]
    with pytest.raises(TaskFailed) as failed:
        await job.result(timeout_s=2)
    assert (failed.value.exc_type, failed.value.message) == ("ConnectionError", "down 3")
    k = app.keys.queue("q")
    assert await app.redis.hget(k.stats, "retried") == b"2"
    dlq = app.dead_letters("q")
    (letter,) = await dlq.list()
    assert (letter.job_id, letter.exc_type, letter.attempts, letter.args) == (
        job.id,
        "ConnectionError",
        3,
        [7],
    )
    assert await dlq.replay(letter.id) == 1
    assert await app.redis.llen(k.pending) == 1
    info = await job.info()
    assert (info.status, info.attempts, info.replays) == (JobStatus.QUEUED, 0, 1)
    assert await dlq.count() == 0


# --------------------------------------------------------------------------- the backend itself
async def test_fetch_batches_and_every_finish_is_gated(lapp: RqStream) -> None:
    async with lapp:
        a = backend(lapp, "A")
        k = lapp.keys.queue(Q)
        assert await a.enqueue(new_jobs(5)) == [True] * 5
        assert await a.enqueue(new_jobs(1)) == [False]
        got = prepared(await a.fetch(3, 100))
        assert [d.job_id for d in got] == ["job0", "job1", "job2"], "oldest first"
        assert len({d.token for d in got}) == 3
        assert await lapp.redis.llen(k.processing("A")) == 3
        assert await lapp.redis.llen(k.pending) == 2
        assert await a.start(got) == [1, 1, 1]
        for d in got:
            d.attempt = 1
        stale = Delivery(Q, "x", got[0].raw, job_id="job0", attempt=7)
        assert (await a.complete([Completion(stale, b"\xc0")])).done == 0, "fence: wrong attempt"
        done = [Completion(d, b"\x01") for d in got[:2]]
        assert (await a.complete(done)).done == 2
        assert (await a.complete(done)).done == 0, "a re-sent completion acts once"
        failure = Failure("ValueError", "no")
        assert await a.retry(got[2], 0, failure) is True
        assert await a.retry(got[2], 0, failure) is False
        assert await lapp.redis.llen(k.processing("A")) == 0
        assert await lapp.redis.llen(k.pending) == 3, "retried without delay: back in the list"
        counts = await a.counts()
        assert (counts.backlog, counts.in_flight) == (3, 0)


async def test_start_dead_letters_a_job_started_too_often(lapp: RqStream) -> None:
    async with lapp:
        a = backend(lapp, "A")
        await a.enqueue(new_jobs(1))
        for attempt in (1, 2):
            (d,) = prepared(await a.fetch(1, 100))
            if attempt == 2:  # its last attempt, after its worker died running it: run alone
                assert await a.start([d]) == [ALONE]
                assert await lapp.redis.hget(lapp.keys.queue(Q).job("job0"), "a") == b"1"
            assert await a.start([d], alone=attempt == 2) == [attempt]
            # The worker "dies": its job goes back as a reaper would return it.
            await lapp.redis.lmove(lapp.keys.queue(Q).processing("A"), lapp.keys.queue(Q).pending)
        (d,) = prepared(await a.fetch(1, 100))
        assert await a.start([d]) == [-1]
        letters = await lapp.dead_letters(Q).list()
        assert [(x.job_id, x.exc_type, x.attempts) for x in letters] == [("job0", "WorkerLost", 2)]
        assert "max_attempts=2" in letters[0].message
        assert await lapp.redis.llen(lapp.keys.queue(Q).processing("A")) == 0


async def test_hand_back_and_defer_do_not_count_the_attempt(lapp: RqStream) -> None:
    async with lapp:
        a = backend(lapp, "A")
        k = lapp.keys.queue(Q)
        await a.enqueue(new_jobs(3))
        got = prepared(await a.fetch(3, 100))
        await a.start(got)
        for d in got:
            d.attempt = 1
        assert await a.defer(got[0], 10_000) is True
        assert await lapp.redis.hget(k.job("job0"), "s") == b"scheduled"
        assert await a.hand_back(got[1:]) == 2
        assert await a.hand_back(got[1:]) == 0
        assert await lapp.redis.lrange(k.pending, 0, -1) == [got[2].raw, got[1].raw]
        for job_id in ("job0", "job1"):
            assert await lapp.redis.hmget(k.job(job_id), "a", "ta") == [b"0", b"0"]
        (nxt,) = await a.fetch(1, 100)
        assert nxt.raw == got[1].raw, "handed-back jobs are taken next, oldest first"


async def test_reaper_returns_a_silent_consumers_jobs(lapp: RqStream) -> None:
    async with lapp:
        k = lapp.keys.queue(Q)
        a, b = backend(lapp, "A"), backend(lapp, "B")
        await a.enqueue(new_jobs(4))
        await a.heartbeat(100)
        await b.heartbeat(60_000)
        held = prepared(await a.fetch(3, 100))
        assert await a.start(held) == [1, 1, 1]
        for d in held:
            d.attempt = 1
        assert await b.reclaim(30_000, 10) == []
        assert await lapp.redis.llen(k.processing("A")) == 3, "A beats: nothing reaped"
        assert await a.renew(held) == set()

        await anyio.sleep(0.15)  # A's heartbeat (TTL 100 ms) expires
        reapers = [backend(lapp, f"R{i}") for i in range(4)]
        await asyncio.gather(*(r.reclaim(30_000, 10) for r in [b, *reapers]))
        assert await lapp.redis.llen(k.processing("A")) == 0
        assert await lapp.redis.llen(k.pending) == 4, "each job returned exactly once"
        assert await lapp.redis.smembers(k.consumers) == {b"B"}

        # A wakes up: everything it does with its old deliveries is refused.
        assert await a.renew(held) == {d.token for d in held}
        assert (await a.complete([Completion(held[0], b"\x01")])).done == 0
        assert await a.retry(held[1], 0, Failure("E", "m")) is False
        assert await a.dead_letter(held[2], Failure("E", "m"), "A") is False
        assert await lapp.redis.llen(k.pending) == 4

        again = prepared(await b.fetch(10, 100))
        assert [d.job_id for d in again] == ["job0", "job1", "job2", "job3"], "reaped go first"
        for d in again:
            d.max_attempts = 3  # attempt 2 is not their last: no need to run alone
        assert await b.start(again) == [2, 2, 2, 1]
        for d, n in zip(again, [2, 2, 2, 1], strict=True):
            d.attempt = n
        assert (await b.complete([Completion(d, b"\x01") for d in again])).done == 4
        assert (await a.complete([Completion(held[0], b"\x01")])).done == 0


async def test_reaper_uses_the_lease_when_the_heartbeat_key_lingers(lapp: RqStream) -> None:
    async with lapp:
        k = lapp.keys.queue(Q)
        a, b = backend(lapp, "A"), backend(lapp, "B")
        await a.enqueue(new_jobs(1))
        await a.heartbeat(60_000)
        await a.fetch(1, 100)
        await anyio.sleep(0.06)
        await b.reclaim(5_000, 10)
        assert await lapp.redis.llen(k.processing("A")) == 1
        await b.reclaim(50, 10)  # silent for longer than a 50 ms lease
        assert await lapp.redis.llen(k.pending) == 1
        assert await lapp.redis.smembers(k.consumers) == set()


async def test_a_job_taken_but_never_received_is_returned(lapp: RqStream) -> None:
    async with lapp:
        k = lapp.keys.queue(Q)
        a = ListsBackend(
            lapp.redis,
            lapp.blocking_redis,
            lapp.scripts,
            lapp.keys.queue(Q),
            "A",
            stray_after_s=0.1,
        )
        await a.enqueue(new_jobs(2))
        (mine,) = await a.fetch(1, 100)
        # A blocking move whose reply was lost: the job sits in A's list, A does not know it.
        lost = await lapp.redis.lmove(k.pending, k.processing("A"), "RIGHT", "LEFT")
        await a.reclaim(30_000, 10)
        assert await lapp.redis.llen(k.processing("A")) == 2, "seen once: not yet returned"
        await anyio.sleep(0.05)
        await a.reclaim(30_000, 10)
        assert await lapp.redis.llen(k.processing("A")) == 2, "unknown for 50 ms: kept"
        await anyio.sleep(0.06)
        await a.reclaim(30_000, 10)
        assert await lapp.redis.lrange(k.processing("A"), 0, -1) == [mine.raw]
        assert await lapp.redis.lrange(k.pending, 0, -1) == [lost]


async def test_leave(lapp: RqStream) -> None:
    async with lapp:
        k = lapp.keys.queue(Q)
        a, b = backend(lapp, "A"), backend(lapp, "B")
        await a.enqueue(new_jobs(1))
        await a.heartbeat(60_000)
        await b.heartbeat(60_000)
        await a.fetch(1, 100)
        await a.leave()
        assert await lapp.redis.smembers(k.consumers) == {b"A", b"B"}, "A still holds a job"
        assert not await lapp.redis.exists(k.heartbeat("A"))
        await b.reclaim(60_000, 10)
        assert await lapp.redis.llen(k.pending) == 1
        await b.leave()
        assert await lapp.redis.smembers(k.consumers) == set()


async def test_blmove_detected_and_brpoplpush_fallback(lapp: RqStream) -> None:
    async with lapp:
        assert await server_has_command(lapp.redis, "blmove") is True
        assert await server_has_command(lapp.redis, "nosuchcommand") is False
        assert await backend(lapp, "A").uses_blmove() is True

        async def calls(command: str) -> int:
            stats = await lapp.redis.info("commandstats")
            return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))

        old = backend(lapp, "old", blmove=False)
        assert await old.uses_blmove() is False
        await old.enqueue(new_jobs(3))
        before = (await calls("brpoplpush"), await calls("rpoplpush"), await calls("blmove"))
        got = await old.fetch(3, 100)
        after = (await calls("brpoplpush"), await calls("rpoplpush"), await calls("blmove"))
        assert len(got) == 3
        assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, 2, 0)

        # A whole worker on the fallback path.
        job = await lapp.tasks["lists.add"].enqueue(2, 3)
        worker = burst(lapp)
        worker.backends[Q] = backend(lapp, worker.name, blmove=False)
        await old.leave()  # the worker's reaper returns the three jobs "old" took
        await worker.run()
        assert await job.result(timeout_s=2) == 5
        assert await lapp.redis.hget(lapp.keys.queue(Q).stats, "completed") == b"4"


# --------------------------------------------------------------------------- real processes
async def test_sigkill_a_worker_another_finishes_its_jobs(
    lapp: RqStream, redis_url: str, prefix: str, procs: Procs
) -> None:
    async with lapp:
        slow = lapp.tasks["lists.pid_after"]
        jobs = await lapp.enqueue_many([slow.call(1.0) for _ in range(8)])
        victim = spawn(procs, redis_url, prefix, RQS_CONCURRENCY="8")

        async def all_running() -> bool:
            return all([await j.status() is JobStatus.RUNNING for j in jobs])

        await wait_until(all_running, 15, "the victim to run all 8 jobs")
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        k = lapp.keys.queue(Q)
        assert await lapp.redis.scard(k.consumers) == 1
        with anyio.fail_after(10):
            await burst(lapp).run()
        results = [await j.result(timeout_s=2) for j in jobs]
        assert results == [os.getpid()] * 8, "every job was finished by the rescuer"
        for j in jobs:
            assert (await j.info()).total_attempts == 2
        assert await lapp.redis.scard(k.consumers) == 0
        assert await lapp.redis.hget(k.stats, "completed") == b"8"


async def test_poison_job_is_dead_lettered_while_others_complete(
    lapp: RqStream, redis_url: str, prefix: str, procs: Procs
) -> None:
    async with lapp:
        die, add = lapp.tasks["lists.die"], lapp.tasks["lists.add"]
        bad = await die.enqueue()
        good = await lapp.enqueue_many([add.call(i, i) for i in range(20)])
        exits = []
        for _ in range(6):  # a crashing worker is restarted, as a supervisor would
            proc = spawn(procs, redis_url, prefix, RQS_BURST="1", RQS_CONCURRENCY="2")
            exits.append(proc.wait(20))
            if exits[-1] == 0:
                break
        assert exits == [1, 1, 0], exits
        with pytest.raises(TaskFailed) as failed:
            await bad.result(timeout_s=2)
        assert failed.value.exc_type == "WorkerLost"
        (letter,) = await lapp.dead_letters(Q).list()
        assert (letter.job_id, letter.exc_type, letter.attempts) == (bad.id, "WorkerLost", 2)
        assert [await j.result(timeout_s=2) for j in good] == [2 * i for i in range(20)]
        assert await lapp.redis.scard(lapp.keys.queue(Q).consumers) == 0


async def test_paused_worker_cannot_finish_a_job_given_to_another(
    lapp: RqStream, redis_url: str, prefix: str, procs: Procs
) -> None:
    async with lapp:
        k = lapp.keys.queue(Q)
        job = await lapp.tasks["lists.pid_after"].enqueue(0.6)
        paused = spawn(procs, redis_url, prefix, RQS_CONCURRENCY="1")

        async def running() -> bool:
            return await job.status() is JobStatus.RUNNING

        await wait_until(running, 15, "the job to start")
        paused.send_signal(signal.SIGSTOP)
        try:
            rescuer = burst(lapp)

            async def resume_when_rescuer_runs_it() -> None:
                async def second_attempt() -> bool:
                    return (await job.info()).attempts == 2

                await wait_until(second_attempt, 5, "the rescuer to start the job")
                paused.send_signal(signal.SIGCONT)

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(resume_when_rescuer_runs_it)
                    await rescuer.run()
        finally:
            paused.send_signal(signal.SIGCONT)
        assert await job.result(timeout_s=2) == os.getpid(), "the rescuer's result stands"
        await anyio.sleep(0.5)  # the resumed worker finishes its stale attempt meanwhile
        paused.send_signal(signal.SIGTERM)
        assert paused.wait(10) == 0
        log = output(paused)
        assert "no longer owned by this worker" in log, log
        info = await job.info()
        assert (info.status, info.attempts, info.total_attempts) == (JobStatus.SUCCEEDED, 2, 2)
        assert await job.result(timeout_s=1) == os.getpid()
        assert await lapp.redis.hget(k.stats, "completed") == b"1"
        counts = await lapp.backend(Q).counts()
        assert (counts.backlog, counts.in_flight, counts.dead) == (0, 0, 0)
        assert await lapp.redis.scard(k.consumers) == 0
