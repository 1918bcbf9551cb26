"""Sentinel: a master, a replica and three sentinels; the master is SIGKILLed mid-run.

Producers and worker processes follow the promoted replica and the run completes. Replication is
asynchronous: jobs the old master acknowledged but had not yet sent to its replica are lost. The
first test measures (and prints) how many; with ``wait_replicas=1`` (WAIT after each enqueue)
none may be lost.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import anyio
import pytest

from rq_stream import JobStatus, RqStream
from rq_stream.client.job import JobInfo
from rq_stream.errors import ConnectionFailed, ReplicationTimeout
from tests.apps import reliability
from tests.cluster_fixtures import LocalSentinel
from tests.conftest import Procs
from tests.contract.conftest import output, spawn, wait_until

pytestmark = pytest.mark.slow

JOBS = 600
PRODUCERS = 20
PAUSE_S = 0.05
"""Between two enqueues of one producer: about 400 jobs/s, so enqueueing spans the failover."""


@pytest.fixture
def sentinel() -> Iterator[LocalSentinel]:
    with LocalSentinel() as setup:
        yield setup


async def run_through_failover(
    setup: LocalSentinel, prefix: str, procs: Procs, backend: str, wait_replicas: int
) -> tuple[int, int, int]:
    """Enqueue JOBS from PRODUCERS concurrent producers while the master is killed; returns
    (acknowledged, lost, producer errors). Every acknowledged job that survived must finish."""
    app = RqStream(setup.url, prefix=prefix, wait_replicas=wait_replicas, wait_timeout_ms=500)
    app.queue(reliability.QUEUE, backend=backend)  # type: ignore[arg-type]
    for task in reliability.app.tasks.values():
        app.task(name=task.name, queue=task.settings.queue)(task.fn)
    ids = [uuid.uuid4().hex for _ in range(JOBS)]
    acked: list[str] = []
    errors = 0
    async with app:
        slow = app.tasks[reliability.slow.name]
        workers = [spawn(procs, setup.url, prefix, backend, "--concurrency", "20") for _ in "ab"]

        async def workers_up() -> bool:  # a worker that cannot connect at start-up exits
            return await app.redis.zcard(app.keys.workers) >= len(workers)

        await wait_until(workers_up, 20, "the worker processes to start")
        before = await slow.enqueue(-1, 0.001)  # results wait on pub/sub: before the failover
        assert await before.result(timeout_s=10) == -1

        async def produce(mine: list[int]) -> None:
            nonlocal errors
            for i in mine:
                while True:  # the same job id on every try: enqueue is idempotent by id
                    try:
                        await slow.options(job_id=ids[i]).enqueue(i, 0.002)
                    except (ConnectionFailed, ReplicationTimeout):
                        errors += 1
                        await anyio.sleep(0.05)
                        continue
                    acked.append(ids[i])
                    break
                await anyio.sleep(PAUSE_S)

        async def kill_midway() -> None:
            await wait_until(_at_least(acked, JOBS // 3), 30, "a third of the jobs enqueued")
            setup.link.freeze()  # a partition: the replica hears nothing more from the master
            await anyio.sleep(0.3)
            setup.kill_master()
            await anyio.to_thread.run_sync(setup.wait_failover)
            await anyio.sleep(0.5)
            setup.rejoin_old_master()

        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                tg.start_soon(kill_midway)
                for p in range(PRODUCERS):
                    tg.start_soon(produce, list(range(p, JOBS, PRODUCERS)))
            with anyio.move_on_after(40):
                while await unfinished(app, acked):
                    await anyio.sleep(0.1)
            assert not await unfinished(app, acked), await diagnose(app, acked)
        after = await slow.enqueue(-2, 0.001)  # ...and after it, on the promoted master
        assert await after.result(timeout_s=10) == -2
        lost = [
            j for j in acked if await app.job(j, reliability.QUEUE).status() is JobStatus.NOT_FOUND
        ]
        for worker in workers:
            assert worker.poll() is None, output(worker)
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(20) == 0
        log = "".join(output(w) for w in workers)
        assert "redis unavailable; retrying with backoff" in log
    return len(acked), len(lost), errors


async def unfinished(app: RqStream, acked: list[str]) -> list[JobInfo]:
    """Jobs neither succeeded nor lost (a lost job's record is gone with the old master)."""
    out = []
    for job_id in acked:
        info = await app.job(job_id, reliability.QUEUE).info()
        if info.status not in (JobStatus.SUCCEEDED, JobStatus.NOT_FOUND):
            out.append(info)
    return out


async def diagnose(app: RqStream, acked: list[str]) -> str:
    left = await unfinished(app, acked)
    counts = await app.backend(reliability.QUEUE).counts()
    return f"{len(left)} unfinished jobs, e.g. {left[:3]}; queue: {counts}"


def _at_least(items: list[str], n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(items) >= n

    return check


@pytest.mark.parametrize("backend", ["streams", "lists"])
async def test_failover_without_wait_completes_and_counts_losses(
    sentinel: LocalSentinel, prefix: str, procs: Procs, backend: str
) -> None:
    started = time.monotonic()
    acked, lost, errors = await run_through_failover(sentinel, prefix, procs, backend, 0)
    print(
        f"\nsentinel failover, {backend}, no WAIT: {acked} jobs acknowledged, {lost} lost "
        f"(acknowledged by the old master only), {errors} enqueue attempts failed and were "
        f"retried, {time.monotonic() - started:.1f} s"
    )
    assert acked == JOBS


async def test_failover_with_wait_replicas_loses_nothing(
    sentinel: LocalSentinel, prefix: str, procs: Procs
) -> None:
    started = time.monotonic()
    acked, lost, errors = await run_through_failover(sentinel, prefix, procs, "streams", 1)
    print(
        f"\nsentinel failover, streams, wait_replicas=1: {acked} jobs acknowledged, {lost} lost, "
        f"{errors} enqueue attempts failed and were retried, {time.monotonic() - started:.1f} s"
    )
    assert acked == JOBS
    assert lost == 0


async def test_wait_replicas_times_out_without_replicas(prefix: str) -> None:
    from rq_stream.testing import RedisServer

    with RedisServer() as server:
        app = RqStream(server.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=50)

        @app.task
        async def noop() -> None:
            return None

        async with app:
            with pytest.raises(ReplicationTimeout) as err:
                await noop.options(job_id="j1").enqueue()
            assert "only 0 of 1 replica(s) acknowledged it within 50 ms" in str(err.value)
            assert await app.job("j1").status() is JobStatus.QUEUED  # the master has it
