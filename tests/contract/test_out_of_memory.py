"""A full Redis (``maxmemory`` reached, ``noeviction``): workers still start, beat and drain it.

Each test fills its own small redis-server with jobs until enqueueing raises RedisOutOfMemory,
then checks, with the jobs held at a gate so that Redis stays full: the worker processes run
(started after or before Redis filled up), beat, hold jobs; producers are refused; ``rq-stream
info`` shows the pressure. Then the gate opens and every accepted job must run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import pytest
from redis import exceptions as rex

from rq_stream import RqStream
from rq_stream.errors import RedisOutOfMemory
from rq_stream.keys import GROUP
from rq_stream.testing import RedisServer
from tests.apps import oom_app
from tests.conftest import ROOT, Procs

from .conftest import wait_until

pytestmark = pytest.mark.slow

MAXMEMORY = "20mb"
PAD = "x" * 5000
"""Each job is about 5 KB in Redis: some 3,500 jobs fill it."""


@pytest.fixture
def full_server() -> Iterator[RedisServer]:
    """A redis-server of its own with a small maxmemory (RedisServer sets noeviction)."""
    with RedisServer(extra_args=["--maxmemory", MAXMEMORY]) as server:
        yield server


def producer(url: str, prefix: str, backend: str) -> RqStream:
    app = RqStream(url, prefix=prefix)
    app.queue(oom_app.QUEUE, backend=backend)  # type: ignore[arg-type]
    task = oom_app.fill
    app.task(name=task.name, queue=oom_app.QUEUE, result_ttl_s=0)(task.fn)
    return app


class Filler:
    """Enqueues numbered jobs, keeping the numbers of those Redis accepted (all must run)."""

    def __init__(self, app: RqStream) -> None:
        self.app = app
        self.task = app.tasks[oom_app.fill.name]
        self.accepted: list[int] = []
        self.next = 0

    async def enqueue(self, n: int) -> bool:
        """``n`` jobs in one script, which Redis refuses (False) or runs whole."""
        batch = list(range(self.next, self.next + n))
        self.next += n
        try:
            await self.app.enqueue_many([self.task.call(i, PAD) for i in batch])
        except RedisOutOfMemory as exc:
            assert "is out of memory (maxmemory reached)" in str(exc)
            assert "the job was NOT enqueued" in str(exc)
            return False
        self.accepted += batch
        return True

    async def fill_up(self) -> None:
        """Batches until one is refused, then top up."""
        while await self.enqueue(20):
            pass
        await self.top_up()

    async def top_up(self) -> int:
        """Single jobs until two in a row are refused; how many were accepted. (A command is
        refused a little before its own size would fit, and Redis frees the buffer of a big
        one a while later: a Redis that refused a batch may take a few more single jobs.)"""
        accepted = refusals = 0
        while refusals < 2:
            if await self.enqueue(1):
                accepted, refusals = accepted + 1, 0
            else:
                refusals += 1
        return accepted

    async def refused(self) -> bool:
        return not await self.enqueue(1)


class Workers:
    def __init__(self, procs: Procs, url: str, prefix: str, backend: str, tmp: Path) -> None:
        self.procs, self.url, self.prefix, self.backend, self.tmp = procs, url, prefix, backend, tmp
        self.gate = tmp / "gate"
        self.ran = tmp / "ran"
        self.logs: list[Path] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.tmp / f"worker{len(self.logs)}.log"
        self.logs.append(log)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": self.url,
            "RQ_STREAM_PREFIX": self.prefix,
            "RQS_BACKEND": self.backend,
            "OOM_GATE": str(self.gate),
            "OOM_RAN": str(self.ran),
        }
        with open(log, "wb") as out:  # a file, not a pipe nobody reads while the test runs
            proc = subprocess.Popen(
                [sys.executable, "-m", "rq_stream", "worker", "tests.apps.oom_app:app",
                 "--concurrency", "8"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.procs.procs.append(proc)
        return proc

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs)

    def open_gate(self) -> None:
        self.gate.touch()

    def ran_numbers(self) -> list[int]:
        if not self.ran.exists():
            return []
        return [int(line) for line in self.ran.read_text().split()]


async def beats(app: RqStream) -> dict[str, float]:
    """Last heartbeat (ms) of each worker whose heartbeat key is alive."""
    out = {}
    for name, score in await app.redis.zrange(app.keys.workers, 0, -1, withscores=True):
        if await app.redis.exists(app.keys.worker(name.decode())):
            out[name.decode()] = score
    return out


async def list_beats(app: RqStream) -> dict[str, int]:
    """Lists backend: each consumer's last beat (server ms) in its heartbeat key."""
    k = app.keys.queue(oom_app.QUEUE)
    names = [m.decode() for m in await app.redis.smembers(k.consumers)]
    raws = [await app.redis.get(k.heartbeat(n)) for n in names]
    return {n: int(r) for n, r in zip(names, raws, strict=True) if r is not None}


def info(url: str, prefix: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "rq_stream", "info", "--url", url, "--prefix", prefix, *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


async def check_full_with_workers(
    app: RqStream, fill: Filler, workers: Workers, count: int
) -> None:
    """While the jobs wait at the gate: ``count`` workers are alive and hold jobs, beat again
    at maxmemory, producers are refused, and ``info`` says Redis is full."""
    await wait_until(lambda: _n_beating(app, count), 30, f"{count} worker heartbeat(s)")
    first = await beats(app)
    first_lists = await list_beats(app) if workers.backend == "lists" else {}

    async def holding() -> bool:
        c = await app.backend(oom_app.QUEUE).counts()
        return c.in_flight >= count

    await wait_until(holding, 30, "the workers to take jobs from the full Redis")
    assert await fill.refused(), "Redis is no longer full: the test cannot check anything"

    async def beat_again() -> bool:
        now = await beats(app)
        return len(now) == count and all(now[n] > first[n] for n in first)

    await wait_until(beat_again, 30, "every worker to beat again")  # every second
    if workers.backend == "lists":

        async def lists_beat_again() -> bool:  # the lists backend beats every heartbeat_s (5)
            now = await list_beats(app)
            return set(now) >= set(first_lists) and all(
                now[n] > first_lists[n] for n in first_lists
            )

        await wait_until(lists_beat_again, 30, "every worker's lists heartbeat to advance")
    # Nothing was finished meanwhile: only the buffers of past commands can have been freed.
    # (a finished job frees thousands; freed client buffers let a few dozen small writes in)
    assert await fill.top_up() <= 200, "Redis had room again before any job finished"

    snapshot = json.loads(info(app.url, app.prefix, "--json"))
    memory = snapshot["memory"]
    assert memory["pressure"] == "full", memory
    assert memory["max_bytes"] == 20 * 1024 * 1024
    assert memory["used_ratio"] >= 0.99
    assert memory["policy"] == "noeviction"
    table = info(app.url, app.prefix)
    assert "WARNING: Redis is at maxmemory: new jobs are refused (RedisOutOfMemory)" in table
    assert "of 20.0 MiB maxmemory" in table


async def _n_beating(app: RqStream, count: int) -> bool:
    return len(await beats(app)) >= count


async def check_all_ran(fill: Filler, workers: Workers) -> None:
    accepted = fill.accepted
    workers.open_gate()

    async def all_ran() -> bool:
        return len(workers.ran_numbers()) >= len(accepted)

    try:
        await wait_until(all_ran, 90, f"all {len(accepted)} accepted jobs to run")
    except AssertionError:
        print(workers.output()[-5000:])
        raise
    assert sorted(set(workers.ran_numbers())) == accepted
    assert "Traceback" not in workers.output(), workers.output()[-5000:]
    assert not await fill.refused(), "Redis must have room again once the backlog is drained"


async def test_workers_started_on_a_full_redis_drain_it(
    full_server: RedisServer, prefix: str, backend: str, procs: Procs, tmp_path: Path
) -> None:
    async with producer(full_server.url, prefix, backend) as app:
        fill = Filler(app)
        await fill.fill_up()
        assert len(fill.accepted) > 1000
        workers = Workers(procs, full_server.url, prefix, backend, tmp_path)
        started = [workers.start(), workers.start()]
        await check_full_with_workers(app, fill, workers, 2)
        assert all(p.poll() is None for p in started), workers.output()[-5000:]
        await check_all_ran(fill, workers)


async def test_a_running_worker_rides_out_redis_filling_up(
    full_server: RedisServer, prefix: str, backend: str, procs: Procs, tmp_path: Path
) -> None:
    async with producer(full_server.url, prefix, backend) as app:
        workers = Workers(procs, full_server.url, prefix, backend, tmp_path)
        worker = workers.start()
        await wait_until(lambda: _n_beating(app, 1), 30, "the worker to start")
        fill = Filler(app)
        await fill.fill_up()
        assert len(fill.accepted) > 1000
        await check_full_with_workers(app, fill, workers, 1)
        assert worker.poll() is None, workers.output()[-5000:]
        await check_all_ran(fill, workers)


async def fill_with_ballast(app: RqStream) -> int:
    """Fill Redis with something else than the queue, until even a small write is refused
    after Redis had time to shrink the client buffers of the big ones; how many keys."""
    n = 0

    async def ballast(size: int) -> bool:
        nonlocal n
        try:
            await app.redis.set(f"{app.prefix}:ballast:{n}", "b" * size)
        except rex.OutOfMemoryError:
            return False
        n += 1
        return True

    while await ballast(100_000):
        pass
    while True:
        while await ballast(100):
            pass
        await anyio.sleep(0.5)
        if not await ballast(100):
            return n


async def test_worker_writes_run_at_maxmemory_and_producer_writes_do_not(
    full_server: RedisServer, prefix: str
) -> None:
    """The commands a worker used to send for its heartbeat, its registration and its start-up
    are refused at maxmemory; the scripts that replaced them run; enqueueing is refused."""
    async with producer(full_server.url, prefix, "lists") as app:
        await fill_with_ballast(app)
        k, q, r = app.keys, app.keys.queue(oom_app.QUEUE), app.redis

        async def refused(write: Callable[[], Awaitable[object]]) -> bool:
            """Refused at maxmemory (topped up first: freed client buffers let a few small
            writes through now and then)."""
            for _ in range(5):
                await fill_with_ballast(app)
                try:
                    await write()
                except (rex.OutOfMemoryError, RedisOutOfMemory):
                    return True
            return False

        assert await refused(lambda: r.set(k.worker("w"), b"beat", px=60_000))
        assert await refused(lambda: r.zadd(k.workers, {"w": 1}))
        assert await refused(lambda: r.sadd(k.queues, oom_app.QUEUE))
        assert await refused(lambda: r.xgroup_create(q.stream, GROUP, id="0", mkstream=True))
        assert await refused(lambda: r.blmove(q.pending, q.processing("w"), 0.01, "RIGHT", "LEFT"))
        assert await refused(lambda: app.enqueue_many([app.tasks[oom_app.fill.name].call(1, "")]))
        await fill_with_ballast(app)

        run = app.scripts.run
        assert await run("worker_heartbeat", [k.worker("w")], [b"beat", 60_000]) == 1
        assert await run("worker_seen", [k.workers], ["w", 5, 1]) == 1
        assert await run("queue_register", [k.queues], [oom_app.QUEUE]) in (
            0,
            1,
        )  # 0: a retry above
        assert await run("list_heartbeat", [q.consumers, q.heartbeat("w")], ["w", 60_000]) == 1
        assert await r.get(k.worker("w")) == b"beat"
        assert await r.zscore(k.workers, "w") == 5
        assert await r.smembers(k.queues) == {oom_app.QUEUE.encode()}
        assert await r.smembers(q.consumers) == {b"w"}
        with pytest.raises(rex.OutOfMemoryError):  # still full
            await r.set(k.worker("v"), b"beat", px=60_000)


async def test_worker_waits_for_memory_to_create_its_queue(
    full_server: RedisServer, prefix: str, procs: Procs, tmp_path: Path
) -> None:
    """Streams: at maxmemory a missing consumer group cannot be created; the worker retries
    with backoff instead of exiting, and starts once there is room."""
    async with producer(full_server.url, prefix, "streams") as app:
        n = await fill_with_ballast(app)
        workers = Workers(procs, full_server.url, prefix, "streams", tmp_path)
        worker = workers.start()
        with anyio.move_on_after(3):
            while "preparing the queue" not in workers.output():
                await anyio.sleep(0.1)
        assert "preparing the queue" in workers.output(), workers.output()
        assert "OutOfMemoryError" in workers.output()
        assert worker.poll() is None, workers.output()
        assert await beats(app) == {}
        await app.redis.delete(*(f"{app.prefix}:ballast:{i}" for i in range(n)))
        await wait_until(lambda: _n_beating(app, 1), 30, "the worker to start")
        workers.open_gate()
        await app.enqueue_many([app.tasks[oom_app.fill.name].call(7, "")])
        await wait_until(lambda: _ran(workers, [7]), 30, "the job to run")


async def _ran(workers: Workers, numbers: list[int]) -> bool:
    return workers.ran_numbers() == numbers
