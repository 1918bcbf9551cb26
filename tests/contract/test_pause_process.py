"""Pausing a queue mid-flood, from the command line, under a CLI worker process: the running
jobs finish, no job starts from about a second after the pause, enqueues still succeed,
``rq-stream info`` shows the queue paused, and ``rq-stream resume`` lets everything finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import anyio

from rq_stream import JobStatus, RqStream
from tests.apps import reliability
from tests.conftest import ROOT, Procs

from .conftest import output, spawn, wait_until

APP = "tests.apps.reliability:app"


def twin(url: str, prefix: str, backend: str) -> RqStream:
    """A producer-side twin of tests.apps.reliability with the same task names."""
    app = RqStream(url, prefix=prefix)
    app.queue(reliability.QUEUE, backend=backend)  # type: ignore[arg-type]
    for task in reliability.app.tasks.values():
        app.task(name=task.name, queue=task.settings.queue)(task.fn)
    return app


def cli(url: str, prefix: str, backend: str, *args: str) -> str:
    env = {**os.environ, "REDIS_URL": url, "RQ_STREAM_PREFIX": prefix, "RQS_BACKEND": backend,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "rq_stream", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip()


async def test_pause_mid_flood_from_the_cli(
    procs: Procs, redis_url: str, prefix: str, backend: str
) -> None:
    worker = spawn(procs, redis_url, prefix, backend, "--concurrency", "4", lease_s=30)
    async with twin(redis_url, prefix, backend) as app:
        slow = app.tasks[reliability.slow.name]
        jobs = await app.enqueue_many([slow.call(i, 0.1) for i in range(300)])

        async def some_done() -> bool:
            return len(await app.redis.hgetall(f"{prefix}:test:done")) >= 8

        await wait_until(some_done, 30, "the worker to get going")
        said = cli(redis_url, prefix, backend, "pause", APP, "work")
        assert said.startswith("queue 'work' paused: workers start none of its jobs")
        seconds, micros = await app.redis.time()
        paused_at_ms = int(seconds) * 1000 + int(micros) // 1000
        more = await app.enqueue_many([slow.call(1000 + i, 0.1) for i in range(5)])  # still fine
        await anyio.sleep(2.5)

        infos = [await j.info() for j in jobs + more]
        started = [i for i in infos if i.started_at is not None]
        latest = max(i.started_at for i in started if i.started_at is not None)
        assert latest.timestamp() * 1000 <= paused_at_ms + 1000, "a job started after the pause"
        # The jobs running (or already started) at the pause finished; the rest wait, untouched.
        assert {i.status for i in started} == {JobStatus.SUCCEEDED}
        waiting = [i for i in infos if i.started_at is None]
        assert len(waiting) >= 100 and {i.status for i in waiting} == {JobStatus.QUEUED}
        assert {i.attempts for i in waiting} == {0}

        snapshot = json.loads(cli(redis_url, prefix, backend, "info", APP, "--json"))
        (work,) = [q for q in snapshot["queues"] if q["name"] == "work"]
        assert work["paused"] is True
        assert work["backlog"] + work["in_flight"] == len(waiting)
        assert "work (paused)" in cli(redis_url, prefix, backend, "info", APP)
        assert cli(redis_url, prefix, backend, "pause", APP, "work") == (
            "queue 'work' was already paused"
        )

        assert cli(redis_url, prefix, backend, "resume", APP, "work") == "queue 'work' resumed"
        with anyio.fail_after(60):
            for job in jobs + more:
                await job.result()
        resumed = [await j.info() for j in jobs + more]
        assert all(i.started_at is not None for i in resumed)
        info = json.loads(cli(redis_url, prefix, backend, "info", APP, "--json"))
        assert [q["paused"] for q in info["queues"] if q["name"] == "work"] == [False]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, output(worker)


async def test_jobs_of_a_dead_worker_on_a_paused_queue_wait_for_the_resume(
    procs: Procs, redis_url: str, prefix: str, backend: str
) -> None:
    """Reclaim goes on while paused, but what it takes over is not started: on streams the
    reclaiming worker holds it (renewing its lease), on lists the reaper returns it to the
    backlog; it runs after the resume, its crashed attempt counted as usual."""
    doomed = spawn(procs, redis_url, prefix, backend, "--concurrency", "3", "--prefetch", "0",
                   lease_s=1.5)  # fmt: skip
    async with twin(redis_url, prefix, backend) as app:
        slow = app.tasks[reliability.slow.name]
        jobs = await app.enqueue_many([slow.call(i, 30) for i in range(3)])

        async def all_started() -> bool:
            return len(await app.redis.hgetall(f"{prefix}:test:started")) == 3

        await wait_until(all_started, 30, "three jobs to start")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        await app.pause("work")
        rescuer = spawn(procs, redis_url, prefix, backend, lease_s=1.5)
        await anyio.sleep(5)  # past the lease and a few reclaim rounds
        started = await app.redis.hgetall(f"{prefix}:test:started")
        assert sorted(int(v) for v in started.values()) == [1, 1, 1], "restarted while paused"
        assert {(await j.info()).attempts for j in jobs} == {1}
        await app.resume("work")

        async def restarted() -> bool:
            counts = await app.redis.hgetall(f"{prefix}:test:started")
            return sorted(int(v) for v in counts.values()) == [2, 2, 2]

        await wait_until(restarted, 30, "the three jobs to start again after the resume")
        assert {(await j.info()).attempts for j in jobs} == {2}
    assert rescuer.poll() is None  # (killed at teardown: its jobs run for 30 s)
