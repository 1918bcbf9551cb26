"""Rate limits: exact across worker processes, per key, deferral without attempts, standalone."""

from __future__ import annotations

import anyio
import pytest

from rq_stream import JobStatus, RqStream, Worker
from rq_stream.errors import ConfigurationError
from rq_stream.patterns.ratelimit import Decision, RateLimited, parse_rate
from tests.apps import patterns_app
from tests.conftest import Procs

TARGET = "tests.apps.patterns_app:app"
SLACK_US = 30_000  # the start is recorded a few ms after the limiter's decision


def assert_within(starts_us: list[int], limit: int, period_us: int) -> None:
    """No window of one period (less the recording slack) holds more than ``limit`` starts."""
    starts = sorted(starts_us)
    for i in range(len(starts) - limit):
        span = starts[i + limit] - starts[i]
        assert span >= period_us - SLACK_US, (
            f"{limit + 1} starts within {span} us, limit is {limit} per {period_us} us"
        )


async def _starts(app: RqStream, name: str) -> list[int]:
    return [int(x) for x in await app.redis.lrange(f"{app.prefix}:test:{name}", 0, -1)]


def test_parse_rate() -> None:
    assert parse_rate("100/m") == parse_rate("100/60s")
    assert parse_rate("5/10s").period_ms == 10_000
    assert parse_rate("3/500ms").limit == 3
    with pytest.raises(ConfigurationError, match=r"invalid rate '10 per minute': write COUNT/"):
        parse_rate("10 per minute")
    with pytest.raises(ConfigurationError, match="the count and period must be >= 1"):
        parse_rate("0/s")


async def test_task_rate_limit_bad_config(app: RqStream) -> None:
    with pytest.raises(ConfigurationError, match="invalid rate 'fast'"):

        @app.task(rate_limit="fast")
        async def f() -> None: ...

    with pytest.raises(ConfigurationError, match="rate_key needs a rate_limit"):

        @app.task(rate_key=lambda: "k")
        async def g() -> None: ...


async def test_rate_across_worker_processes(redis_url: str, prefix: str, procs: Procs) -> None:
    for _ in range(3):
        procs.worker(TARGET, redis_url, prefix, "--queues", "rated", "-c", "10")
    async with patterns_app.configure(redis_url, prefix) as client:
        jobs = await client.enqueue_many([patterns_app.rated.call(i) for i in range(13)])
        results = [await j.result(timeout_s=20) for j in jobs]
        assert results == list(range(13))
        starts = await _starts(client, "starts")
        assert len(starts) == 13  # each job ran exactly once
        assert_within(starts, 5, 1_000_000)
        for job in jobs:
            info = await job.info()
            # Deferred jobs did not spend attempts (max_attempts=1 would have dead-lettered).
            assert (info.status, info.attempts, info.total_attempts) == (JobStatus.SUCCEEDED, 1, 1)


async def test_per_key_limit_and_deferral(make_app: object) -> None:
    app: RqStream = make_app()  # type: ignore[operator]

    @app.task(rate_limit="3/s", rate_key=lambda tenant, **_: tenant, max_attempts=1)
    async def call_api(tenant: str, n: int) -> None:
        seconds, micros = await app.redis.time()
        await app.redis.rpush(f"{app.prefix}:test:starts:{tenant}", seconds * 10**6 + micros)

    async with app:
        jobs = await app.enqueue_many(
            [call_api.call(t, n) for n in range(5) for t in ("acme", "globex")]
        )
        worker = Worker(app, concurrency=10, burst=True, handle_signals=False,
                        delayed_max_sleep_s=0.05)  # fmt: skip
        await worker.run()
        for tenant in ("acme", "globex"):
            starts = await _starts(app, f"starts:{tenant}")
            assert len(starts) == 5
            assert_within(starts, 3, 1_000_000)
        # Both tenants got their first 3 slots at once: one tenant does not use up the other's.
        first = (
            sorted(await _starts(app, "starts:acme"))[:3]
            + sorted(await _starts(app, "starts:globex"))[:3]
        )
        assert max(first) - min(first) < 1_000_000 - SLACK_US
        for job in jobs:
            info = await job.info()
            assert (info.status, info.attempts) == (JobStatus.SUCCEEDED, 1)


async def test_standalone_limiter(app: RqStream) -> None:
    limiter = app.rate_limiter("search", "4/s")
    got = [await limiter.try_acquire("alice") for _ in range(6)]
    assert [bool(d) for d in got] == [True] * 4 + [False] * 2
    assert got[0] == Decision(True, 0.0)
    assert 0 < got[4].retry_after_s <= 1.0
    assert await limiter.try_acquire("bob")  # another key, its own limit
    with pytest.raises(RateLimited, match=r"rate limit 'search' \(4 per 1000 ms\) for key 'alice'"):
        await limiter.acquire("alice", timeout_s=0.01)


async def test_standalone_limiter_concurrent_callers(app: RqStream) -> None:
    limiter = app.rate_limiter("burst", "10/m")
    allowed = 0

    async def call() -> None:
        nonlocal allowed
        if await limiter.try_acquire():
            allowed += 1

    async with anyio.create_task_group() as tg:
        for _ in range(60):
            tg.start_soon(call)
    assert allowed == 10


async def test_acquire_waits_for_a_slot(app: RqStream) -> None:
    limiter = app.rate_limiter("slow", "2/300ms")
    stamps = []
    for _ in range(5):
        await limiter.acquire(timeout_s=5)
        seconds, micros = await app.redis.time()
        stamps.append(seconds * 10**6 + micros)
    assert_within(stamps, 2, 300_000)
