"""Distributed locks: mutual exclusion across processes, renewal, loss, timeouts, try."""

from __future__ import annotations

import itertools

import anyio
import pytest

from rq_stream import RqStream
from rq_stream.errors import ConfigurationError, LockLost
from rq_stream.patterns.locks import LockNotAcquired
from tests.apps import patterns_app
from tests.conftest import Procs

TARGET = "tests.apps.patterns_app:app"


async def test_no_two_holders_overlap_across_processes(
    redis_url: str, prefix: str, procs: Procs
) -> None:
    for _ in range(3):
        procs.worker(TARGET, redis_url, prefix, "--queues", "locked", "-c", "5")
    async with patterns_app.configure(redis_url, prefix) as client:
        jobs = await client.enqueue_many([patterns_app.critical.call(i) for i in range(15)])
        assert [await j.result(timeout_s=30) for j in jobs] == list(range(15))
        raw = await client.redis.lrange(f"{prefix}:test:intervals", 0, -1)
        intervals = sorted(tuple(int(x) for x in r.split(b":")) for r in raw)
        assert len(intervals) == 15
        workers = {(await j.info()).worker for j in jobs}
        assert len(workers) > 1, "the jobs should have been spread over several processes"
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert end <= start, f"two holders overlapped: one ended at {end}, next began {start}"


async def test_try_acquire_and_release(app: RqStream) -> None:
    first, second = app.lock("job", ttl_s=5), app.lock("job", ttl_s=5)
    assert await first.try_acquire()
    assert not await second.try_acquire()
    with pytest.raises(LockNotAcquired, match="lock 'job' is held by another owner; not acquired"):
        async with app.lock("job", timeout_s=0):
            pass
    async with first:  # already held: entering only starts renewal; exit releases
        assert first.held
    assert not first.held
    assert await second.try_acquire()
    assert await second.release()
    assert not await second.release()


async def test_blocking_acquire_wakes_on_release(app: RqStream) -> None:
    order: list[str] = []

    async def holder(started: anyio.Event) -> None:
        async with app.lock("resource", ttl_s=10):
            started.set()
            await anyio.sleep(0.2)
            order.append("holder done")

    async with anyio.create_task_group() as tg:
        started = anyio.Event()
        tg.start_soon(holder, started)
        await started.wait()
        # The holder's TTL is 10 s: only the release notification can wake us this soon.
        with anyio.fail_after(5):
            async with app.lock("resource", timeout_s=8):
                order.append("waiter in")
    assert order == ["holder done", "waiter in"]


async def test_waiter_takes_over_after_holder_dies(app: RqStream) -> None:
    # A holder that died: its token stays until the TTL; nobody publishes a release.
    await app.redis.set(app.keys.lock("orphan"), "dead-owner", px=300)
    async with app.lock("orphan", timeout_s=5) as lock:
        assert lock.held
        assert await app.redis.get(app.keys.lock("orphan")) == lock.token.encode()  # type: ignore[union-attr]


async def test_timeout_message(app: RqStream) -> None:
    await app.redis.set(app.keys.lock("busy"), "someone", px=5000)
    with pytest.raises(LockNotAcquired, match=r"not acquired within timeout_s=0\.2"):
        async with app.lock("busy", timeout_s=0.2):
            pass


async def test_renewal_keeps_the_lock_past_its_ttl(app: RqStream) -> None:
    async with app.lock("long", ttl_s=0.3) as lock:
        await anyio.sleep(0.8)  # well past the TTL: renewal every 0.1 s keeps it
        assert not lock.lost
        assert await app.redis.get(app.keys.lock("long")) == lock.token.encode()  # type: ignore[union-attr]
    assert await app.redis.exists(app.keys.lock("long")) == 0


async def test_lost_lock_raises_on_exit(app: RqStream) -> None:
    with pytest.raises(LockLost, match="lock 'fragile' was lost while held"):
        async with app.lock("fragile", ttl_s=0.3) as lock:
            await app.redis.set(app.keys.lock("fragile"), "intruder")  # someone else's now
            with anyio.fail_after(3):
                await lock.wait_lost()
            assert lock.lost
    # The release did not delete the other owner's lock.
    assert await app.redis.get(app.keys.lock("fragile")) == b"intruder"


async def test_cancel_on_loss_stops_the_body(app: RqStream) -> None:
    reached_end = False
    with pytest.raises(LockLost):
        async with app.lock("watched", ttl_s=0.3, cancel_on_loss=True):
            await app.redis.delete(app.keys.lock("watched"))
            await anyio.sleep(5)  # cancelled at the next renewal (0.1 s)
            reached_end = True
    assert not reached_end


async def test_body_error_propagates_and_releases(app: RqStream) -> None:
    with pytest.raises(ValueError, match="boom"):
        async with app.lock("err", ttl_s=5):
            raise ValueError("boom")
    assert await app.redis.exists(app.keys.lock("err")) == 0


async def test_bad_lock_settings(app: RqStream) -> None:
    with pytest.raises(ConfigurationError, match="lock ttl_s must be positive, got 0"):
        app.lock("x", ttl_s=0)
    lock = app.lock("x")
    assert await lock.try_acquire()
    with pytest.raises(ConfigurationError, match="already held by this Lock object"):
        await lock.acquire()
    await lock.release()
