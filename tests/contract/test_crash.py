"""Nothing lost: real worker processes killed, poisoned, stopped; a real redis-server restarted."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

import anyio
import pytest

from rq_stream import JobStatus, RqStream, TaskFailed
from rq_stream.testing import RedisServer
from tests.apps import reliability
from tests.conftest import Procs

from .conftest import output, spawn, wait_until

pytestmark = pytest.mark.slow


def tapp(url: str, prefix: str, backend: str, lease_s: float = 1.5) -> RqStream:
    """A producer-side twin of tests.apps.reliability with the same task names."""
    app = RqStream(url, prefix=prefix, lease_s=lease_s)
    app.queue(reliability.QUEUE, backend=backend)  # type: ignore[arg-type]
    for task in reliability.app.tasks.values():
        app.task(name=task.name, queue=task.settings.queue)(task.fn)
    return app


async def counts(app: RqStream, kind: str) -> dict[str, int]:
    raw = await app.redis.hgetall(f"{app.prefix}:test:{kind}")
    return {k.decode(): int(v) for k, v in raw.items()}


async def in_flight(app: RqStream) -> int:
    return (await app.backend(reliability.QUEUE).counts()).in_flight


async def test_sigkill_worker_with_jobs_in_flight(
    redis_url: str, prefix: str, backend: str, procs: Procs
) -> None:
    lease_s = 1.5
    async with tapp(redis_url, prefix, backend, lease_s) as app:
        slow = app.tasks[reliability.slow.name]
        jobs = await app.enqueue_many([slow.call(i, 0.5) for i in range(40)])
        victim = spawn(procs, redis_url, prefix, backend, "--concurrency", "20", lease_s=lease_s)

        async def holds_twenty() -> bool:
            return await in_flight(app) >= 20 and len(await counts(app, "started")) >= 20

        await wait_until(holds_twenty, 15, "the worker to hold 20 jobs")
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        started = await counts(app, "started")
        done_before = await counts(app, "done")
        assert len(done_before) < 40, "the victim finished everything before the kill"

        rescuer = spawn(procs, redis_url, prefix, backend, "--concurrency", "40", "--burst")
        with anyio.fail_after(lease_s + 15):
            results = [await j.result() for j in jobs]
        assert results == list(range(40))
        assert rescuer.wait(15) == 0, output(rescuer)
        done = await counts(app, "done")
        assert sorted(int(k) for k in done) == list(range(40))
        interrupted = [k for k in started if k not in done_before]
        assert interrupted, "no job was in flight at the kill"
        for job in jobs:
            assert await job.status() is JobStatus.SUCCEEDED


async def test_poison_job_dead_lettered_after_max_attempts(
    redis_url: str, prefix: str, backend: str, procs: Procs
) -> None:
    lease_s = 0.8
    async with tapp(redis_url, prefix, backend, lease_s) as app:
        slow = app.tasks[reliability.slow.name]
        poison = app.tasks[reliability.poison.name]
        bad = await poison.enqueue()
        good = await app.enqueue_many([slow.call(i, 0.01) for i in range(30)])
        exits = []
        for _ in range(6):  # a crashing worker is restarted, as a supervisor would
            proc = spawn(procs, redis_url, prefix, backend, "--concurrency", "4", "--burst",
                         lease_s=lease_s)  # fmt: skip
            exits.append(proc.wait(30))
            if exits[-1] == 0:
                break
        assert exits[-1] == 0, f"worker exit codes: {exits}"
        assert 1 in exits, "the poison job never killed a worker"
        with pytest.raises(TaskFailed) as failed:
            await bad.result(timeout_s=5)
        assert failed.value.exc_type == "WorkerLost"
        assert "max_attempts=2" in failed.value.message
        letters = await app.dead_letters(reliability.QUEUE).list()
        assert [(x.job_id, x.exc_type, x.attempts) for x in letters] == [(bad.id, "WorkerLost", 2)]
        assert (await counts(app, "started"))["poison"] == 2
        assert [await j.result(timeout_s=5) for j in good] == list(range(30))


async def test_sigterm_hands_back_a_long_job(
    redis_url: str, prefix: str, backend: str, procs: Procs
) -> None:
    async with tapp(redis_url, prefix, backend, lease_s=30) as app:
        slow = app.tasks[reliability.slow.name]
        job = await slow.enqueue(7, 2.0)
        first = spawn(procs, redis_url, prefix, backend, "--grace", "0.3", lease_s=30)

        async def running() -> bool:
            return await job.status() is JobStatus.RUNNING

        await wait_until(running, 15, "the long job to start")
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
        log = output(first)
        assert "job handed back to the queue" in log, log
        # Handed back at once: no lease (30 s) to wait for.
        assert await job.status() is JobStatus.QUEUED
        second = spawn(procs, redis_url, prefix, backend, "--burst", lease_s=30)
        assert await job.result(timeout_s=15) == 7
        assert second.wait(10) == 0
        info = await job.info()
        assert (info.attempts, info.total_attempts) == (1, 1)
        assert (await counts(app, "started"))["7"] == 2
        assert (await counts(app, "done"))["7"] == 1


async def test_redis_killed_and_restarted_mid_run(backend: str, prefix: str, procs: Procs) -> None:
    server = RedisServer(appendonly=True).start()
    try:
        async with tapp(server.url, prefix, backend) as app:
            slow = app.tasks[reliability.slow.name]
            jobs = await app.enqueue_many([slow.call(i, 0.005) for i in range(400)])
            worker = spawn(procs, server.url, prefix, backend, "--concurrency", "10")

            async def some_done() -> bool:
                return len(await counts(app, "done")) >= 50

            await wait_until(some_done, 20, "the first jobs to finish")
            server.kill()
            from rq_stream.errors import ConnectionFailed

            with pytest.raises(ConnectionFailed, match="lost connection to Redis"):
                await slow.enqueue(999, 0)
            await anyio.sleep(1.0)
            server.start()

            async def all_done() -> bool:
                return len(await counts(app, "done")) == 400

            await wait_until(all_done, 40, "every job to finish after the restart")
            results = [await j.result(timeout_s=5) for j in jobs]
            assert results == list(range(400))
            assert worker.poll() is None, "the worker died with Redis"
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(15) == 0
            log = output(worker)
            assert "redis unavailable; retrying with backoff" in log
            assert "redis reachable again" in log
    finally:
        server.close()


async def test_garbage_in_the_queue_is_dead_lettered(qapp: RqStream, backend: str) -> None:
    @qapp.task(queue="work")
    async def add(x: int, y: int) -> int:
        return x + y

    before = await add.enqueue(1, 1)
    k = qapp.keys.queue("work")
    await qapp.backend("work").prepare()
    garbage = b"\xc1\xff not msgpack at all"
    if backend == "streams":
        await qapp.redis.xadd(k.stream, {"d": garbage})
    else:
        await qapp.redis.lpush(k.pending, garbage)
    after = await add.enqueue(2, 2)
    from rq_stream import Worker

    await Worker(qapp, queues=["work"], burst=True, handle_signals=False).run()
    assert await before.result(timeout_s=5) == 2
    assert await after.result(timeout_s=5) == 4
    (letter,) = await qapp.dead_letters("work").list()
    assert letter.exc_type == "EnvelopeError"
    assert "payload could not be decoded" in letter.message
    assert letter.payload == garbage


def _unused(*_: Any) -> subprocess.Popen[bytes] | None:
    return None


async def test_second_signal_exits_now_and_loses_nothing(
    redis_url: str, prefix: str, backend: str, procs: Procs
) -> None:
    async with tapp(redis_url, prefix, backend, lease_s=1.0) as app:
        slow = app.tasks[reliability.slow.name]
        job = await slow.enqueue(3, 3.0)
        first = spawn(procs, redis_url, prefix, backend, "--grace", "30", lease_s=1.0)

        async def running() -> bool:
            return await job.status() is JobStatus.RUNNING

        await wait_until(running, 15, "the long job to start")
        first.send_signal(signal.SIGTERM)
        await anyio.sleep(0.3)
        first.send_signal(signal.SIGTERM)
        first.wait(5)  # well before the 30 s grace and the 3 s job
        assert "second signal: exiting now" in output(first)
        assert await job.status() is not JobStatus.SUCCEEDED
        spawn(procs, redis_url, prefix, backend, "--burst", lease_s=1.0)
        assert await job.result(timeout_s=20) == 3
