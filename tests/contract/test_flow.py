"""Flow control with real worker processes: a poison job takes no innocent job with it, prefetch
does not hoard long jobs, garbage that names a job is dead-lettered at once, and delayed jobs and
retries run on time."""

from __future__ import annotations

import anyio
import pytest

from rq_stream import JobStatus, RqStream, TaskFailed, Worker
from tests.apps import reliability
from tests.conftest import Procs

from .conftest import output, spawn, wait_until
from .test_crash import counts, tapp

pytestmark = pytest.mark.slow


async def test_poison_job_takes_no_innocent_job_with_it(
    redis_url: str, prefix: str, backend: str, procs: Procs
) -> None:
    """Default settings (max_attempts 3): only the poison job is dead-lettered."""
    lease_s = 1.0
    async with tapp(redis_url, prefix, backend, lease_s) as app:
        plain, crash = app.tasks[reliability.plain.name], app.tasks[reliability.crash.name]
        good = await app.enqueue_many([plain.call(i, 0.002) for i in range(500)])
        bad = await crash.enqueue()
        good += await app.enqueue_many([plain.call(i, 0.002) for i in range(500, 1000)])
        spawn(procs, redis_url, prefix, backend, "--processes", "2", "--restart-delay", "0.1",
              lease_s=lease_s)  # fmt: skip
        with pytest.raises(TaskFailed) as failed:
            await bad.result(timeout_s=60)
        assert failed.value.exc_type == "WorkerLost"
        assert [await j.result(timeout_s=30) for j in good] == list(range(1000))
        letters = await app.dead_letters(reliability.QUEUE).list()
        assert [(x.job_id, x.attempts) for x in letters] == [(bad.id, 3)], letters
        assert (await counts(app, "started"))["crash"] == 3


async def test_prefetch_does_not_hoard_long_jobs(
    redis_url: str, prefix: str, backend: str, procs: Procs
) -> None:
    """20 long jobs, two idle workers of concurrency 10: each runs 10 (about one job's time)."""
    async with tapp(redis_url, prefix, backend, lease_s=30) as app:
        plain = app.tasks[reliability.plain.name]
        for _ in range(2):
            spawn(procs, redis_url, prefix, backend, "--concurrency", "10", lease_s=30)

        async def both_up() -> bool:
            return int(await app.redis.zcard(app.keys.workers)) == 2

        await wait_until(both_up, 20, "two workers to start")
        await anyio.sleep(0.5)  # both blocked in their fetch
        jobs = await app.enqueue_many([plain.call(i, 1.5) for i in range(20)])
        assert [await j.result(timeout_s=30) for j in jobs] == list(range(20))
        log = await app.redis.lrange(f"{prefix}:test:started:log", 0, -1)
        per_worker: dict[str, int] = {}
        for line in log:
            worker = line.decode().split(":", 2)[2]
            per_worker[worker] = per_worker.get(worker, 0) + 1
        assert sorted(per_worker.values()) == [10, 10], per_worker


async def test_garbage_naming_a_job_is_dead_lettered_at_once(qapp: RqStream, backend: str) -> None:
    """An undecodable payload that carries a job id: dead-lettered under that id on the first
    pass (not after the lease), its record failed with a TTL, the queue flowing."""

    @qapp.task(queue="work")
    async def add(x: int, y: int) -> int:
        return x + y

    k = qapp.keys.queue("work")
    before = await add.enqueue(1, 1)
    garbage = b"\xc1\xff not msgpack, but with an id"
    if backend == "streams":
        await qapp.redis.xadd(k.stream, {"j": "junk-1", "d": garbage})
    else:
        # A list item is the envelope itself: a truncated envelope names its job, then breaks.
        raw = (await add.options(job_id="junk-1").enqueue(5, 5)) and await qapp.redis.lpop(
            k.pending
        )
        await qapp.redis.delete(k.job("junk-1"))
        garbage = raw[: len(raw) - 3]
        await qapp.redis.lpush(k.pending, garbage)
    after = await add.enqueue(2, 2)
    with anyio.fail_after(qapp.lease_s / 2):  # the lease (30 s) is never waited for
        await Worker(qapp, queues=["work"], burst=True, handle_signals=False).run()
    assert [await before.result(timeout_s=5), await after.result(timeout_s=5)] == [2, 4]
    (letter,) = await qapp.dead_letters("work").list()
    assert (letter.job_id, letter.exc_type, letter.payload) == ("junk-1", "EnvelopeError", garbage)
    if backend == "streams":
        record = qapp.job("junk-1", "work")
        assert await record.status() is JobStatus.FAILED
        assert 0 < await qapp.redis.ttl(k.job("junk-1")) <= 3600
    counts_ = await qapp.backend("work").counts()
    assert (counts_.backlog, counts_.in_flight, counts_.dead) == (0, 0, 1)


async def _stamps(app: RqStream, key: str) -> list[float]:
    return [float(x) for x in await app.redis.lrange(f"{app.prefix}:test:stamp:{key}", 0, -1)]


async def _server_now(app: RqStream) -> float:
    seconds, micros = await app.redis.time()
    return float(seconds) + micros / 1e6


async def test_delays_and_backoff_are_on_time(
    redis_url: str, prefix: str, backend: str, procs: Procs
) -> None:
    """An idle worker runs a 0.3 s delay and a 0.2 s backoff on time, not at its next 1 s check.
    The bound is generous (the precise figure is in benchmarks/timers.py)."""
    slack_s = 0.35
    async with tapp(redis_url, prefix, backend, lease_s=30) as app:
        stamp = app.tasks[reliability.stamp.name]
        worker = spawn(procs, redis_url, prefix, backend, lease_s=30)

        async def up() -> bool:
            return int(await app.redis.zcard(app.keys.workers)) == 1

        await wait_until(up, 20, "the worker to start")
        await anyio.sleep(0.5)
        late: list[float] = []
        for n, delay_s in enumerate((0.3, 0.05, 0.3, 0.2, 0.3)):
            t0 = await _server_now(app)
            await stamp.options(delay_s=delay_s).enqueue(f"d{n}")
            await wait_until(lambda: _has(app, f"d{n}", 1), 10, "the delayed job")  # noqa: B023
            (started,) = await _stamps(app, f"d{n}")
            late.append(started - t0 - delay_s)
            await anyio.sleep(0.37 * n % 0.5)  # vary the phase against the worker's timers
        assert max(late) < slack_s, f"delayed jobs ran late by {late}\n"
        for n in range(3):
            await stamp.enqueue(f"fail{n}")
            await wait_until(lambda: _has(app, f"fail{n}", 2), 10, "the retry")  # noqa: B023
            first, second = await _stamps(app, f"fail{n}")
            assert second - first - 0.2 < slack_s, f"retry ran {second - first:.3f} s later"
        assert worker.poll() is None, output(worker)


async def _has(app: RqStream, key: str, n: int) -> bool:
    return len(await _stamps(app, key)) >= n
