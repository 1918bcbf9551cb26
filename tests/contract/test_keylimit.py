"""Concurrency per key under CLI worker processes, on both backends: the overlap each key's
tasks measure themselves never exceeds the limit, a job waiting for a slot uses no attempt, and
the slot of a SIGKILLed holder frees within the lease."""

from __future__ import annotations

import signal

from rq_stream import JobStatus, RqStream
from tests.apps import keylimit_app as ka
from tests.conftest import Procs

from .conftest import wait_until

APP = "tests.apps.keylimit_app:app"
TENANTS = ["acme", "globex", "initech"]


def spawn(procs: Procs, url: str, prefix: str, backend: str, lease_s: float = 30) -> None:
    procs.worker(APP, url, prefix, "--concurrency", "10",
                 env={"RQS_BACKEND": backend, "RQS_LEASE_S": str(lease_s)})  # fmt: skip


async def seen(app: RqStream, name: str) -> list[int]:
    """How many ran at once (counting itself) as each job of ``name`` started."""
    return [int(x) for x in await app.redis.lrange(f"{app.prefix}:test:seen:{name}", 0, -1)]


async def test_peak_overlap_per_key_across_three_worker_processes(
    procs: Procs, redis_url: str, prefix: str, backend: str
) -> None:
    for _ in range(3):
        spawn(procs, redis_url, prefix, backend)
    async with ka.configure(redis_url, prefix, backend) as app:
        per_tenant = app.tasks[ka.per_tenant.name]
        one = app.tasks[ka.one_at_a_time.name]
        calls = [per_tenant.call(t, i, 0.1) for i in range(12) for t in TENANTS]
        calls += [one.call(i) for i in range(8)]
        jobs = await app.enqueue_many(calls)
        for job in jobs:
            await job.result(timeout_s=60)
        for tenant in TENANTS:
            peaks = await seen(app, tenant)
            assert len(peaks) == 12
            assert max(peaks) <= ka.LIMIT, f"{tenant}: {max(peaks)} ran at once"
            assert max(peaks) == ka.LIMIT  # the limit is used, not just respected
        assert len(await seen(app, "one_at_a_time")) == 8
        assert max(await seen(app, "one_at_a_time")) == 1
        attempts = await app.redis.lrange(f"{prefix}:test:attempts", 0, -1)
        assert set(attempts) == {b"1"}, "a job that waited for a slot used an attempt"
        assert [await j.status() for j in jobs] == [JobStatus.SUCCEEDED] * len(jobs)


async def test_slot_of_a_sigkilled_holder_frees_within_the_lease(
    procs: Procs, redis_url: str, prefix: str, backend: str
) -> None:
    lease_s = 1.5
    spawn(procs, redis_url, prefix, backend, lease_s)
    async with ka.configure(redis_url, prefix, backend) as app:
        hold = app.tasks[ka.hold.name]
        first = await hold.enqueue("acme", 0)
        log = f"{prefix}:test:hold:acme"

        async def holding() -> bool:
            return bool(await app.redis.lrange(log, 0, -1))

        await wait_until(holding, 30, "the first job to hold its slot")
        procs.procs[0].send_signal(signal.SIGKILL)
        procs.procs[0].wait(10)
        seconds, micros = await app.redis.time()
        killed_ms = int(seconds) * 1000 + int(micros) // 1000
        slots = app.keys.queue(ka.QUEUE).slots(f"{ka.hold.name}:acme")
        held = await app.redis.zrange(slots, 0, -1, withscores=True)
        assert [m for m, _ in held] == [f"{first.id}:1".encode()]
        assert held[0][1] <= killed_ms + lease_s * 1000  # expires within one lease of the kill
        second = await hold.enqueue("acme", 1)
        spawn(procs, redis_url, prefix, backend, lease_s)
        assert await second.result(timeout_s=30) == 1
        assert await first.result(timeout_s=30) == 0  # reclaimed, run again (attempt 2)
        runs = [x.decode() for x in await app.redis.lrange(log, 0, -1)]
        assert runs[0] == "0:1" and sorted(runs[1:]) == ["0:2", "1:1"]
