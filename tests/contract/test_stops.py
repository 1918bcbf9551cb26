"""No stop strands a job: a busy worker stopped at random instants (graceful stop, grace running
out, ``run()`` cancelled, a real SIGTERM) leaves nothing pending for itself, and a second worker
finishes everything long before the lease."""

from __future__ import annotations

import random
import signal
import subprocess
from typing import Any

import anyio
import pytest

from rq_stream import JobStatus, RqStream, Worker
from rq_stream.keys import GROUP
from tests.apps import reliability
from tests.conftest import Procs

from .conftest import output, spawn, wait_until

LEASE_S = 60.0
"""Far longer than any wait below: a job that waited for the lease would fail the test."""


def stop_app(url: str, prefix: str, backend: str) -> RqStream:
    app = RqStream(url, prefix=prefix, lease_s=LEASE_S)
    app.queue("work", backend=backend)  # type: ignore[arg-type]

    @app.task(name="quick", queue="work", result_ttl_s=600)
    async def quick(i: int) -> int:
        await anyio.sleep(random.choice((0, 0, 0.001, 0.02)))
        return i

    return app


async def left_behind(app: RqStream, backend: str, consumer: str) -> list[str]:
    """What the stopped consumer still holds in Redis (queue "work", as in tests.apps)."""
    k = app.keys.queue("work")
    if backend == "streams":
        pending = await app.redis.xpending_range(
            k.stream, GROUP, "-", "+", 100, consumername=consumer
        )
        return [str(p["message_id"]) for p in pending]
    return [repr(x) for x in await app.redis.lrange(k.processing(consumer), 0, -1)]


async def stop_at_random(worker: Worker, how: str, rng: random.Random) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await anyio.sleep(rng.uniform(0.0, 0.25))
        if how == "cancel":
            tg.cancel_scope.cancel()
        else:
            worker.request_stop()


@pytest.mark.parametrize("how", ["stop", "grace-over", "cancel"])
async def test_stops_at_random_instants_strand_nothing(
    redis_url: str, prefix: str, backend: str, how: str
) -> None:
    rng = random.Random(f"{prefix}{how}")
    async with stop_app(redis_url, prefix, backend) as app:
        quick = app.tasks["quick"]
        jobs = await app.enqueue_many([quick.call(i) for i in range(3000)])
        for n in range(8):
            grace = 0.0 if how == "grace-over" else 5.0
            worker = Worker(app, ["work"], concurrency=40, grace_s=grace, handle_signals=False,
                            name=f"victim-{how}-{n}")  # fmt: skip
            await stop_at_random(worker, how, rng)
            assert await left_behind(app, backend, worker.name) == [], f"stop {n} stranded jobs"
        with anyio.fail_after(LEASE_S / 3):
            await Worker(app, ["work"], concurrency=100, burst=True, handle_signals=False).run()
        assert [await j.result(timeout_s=5) for j in jobs] == list(range(3000))


async def test_sigterm_at_random_instants_strands_nothing(
    redis_url: str, prefix: str, backend: str, procs: Procs
) -> None:
    rng = random.Random(prefix)
    async with stop_app(redis_url, prefix, backend) as producer:
        app = RqStream(redis_url, prefix=prefix, lease_s=LEASE_S)
        app.queue(reliability.QUEUE, backend=backend)  # type: ignore[arg-type]
        slow = app.task(name=reliability.slow.name, queue=reliability.QUEUE)(reliability.slow.fn)
        async with app:
            jobs = await app.enqueue_many([slow.call(i, 0.002) for i in range(4000)])
            started_log = f"{prefix}:test:started:log"
            for n in range(4):
                before = await producer.redis.llen(started_log)
                proc = spawn(procs, redis_url, prefix, backend, "--concurrency", "40",
                             lease_s=LEASE_S)  # fmt: skip

                async def busy() -> bool:  # this worker runs jobs (its signal handlers are up)
                    return bool(await producer.redis.llen(started_log) > before)  # noqa: B023

                await wait_until(busy, 20, "the worker to start jobs")
                await anyio.sleep(rng.uniform(0.0, 0.3))
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(30) == 0, output(proc)
                log = output(proc)
                consumers = await consumer_names(app, backend)
                stranded: dict[str, Any] = {}
                for name in consumers:
                    if await app.redis.exists(app.keys.worker(name)):
                        continue  # none is alive, but be exact: only the stopped one counts
                    held = await left_behind(app, backend, name)
                    if held:
                        stranded[name] = held
                assert not stranded, f"stop {n} stranded jobs: {stranded}\n{log}"
            rescuer = spawn(procs, redis_url, prefix, backend, "--concurrency", "40", "--burst",
                            lease_s=LEASE_S)  # fmt: skip
            try:
                code = rescuer.wait(LEASE_S / 3)
            except subprocess.TimeoutExpired:
                rescuer.kill()
                code = rescuer.wait()
            assert code == 0, output(rescuer)
            for j in jobs:
                assert await j.status() is JobStatus.SUCCEEDED


async def consumer_names(app: RqStream, backend: str) -> list[str]:
    k = app.keys.queue(reliability.QUEUE)
    if backend == "streams":
        return [str(c["name"].decode()) for c in await app.redis.xinfo_consumers(k.stream, GROUP)]
    return sorted(m.decode() for m in await app.redis.smembers(k.consumers))
