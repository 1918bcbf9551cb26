"""The public surface: top-level names, ``Call.options``, and default task names of a module run
as a script (``python mymod.py`` / ``python -m mymod``) against a CLI worker importing it."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

import rq_stream
from rq_stream import EnqueueError, JobStatus, RqStream
from rq_stream.options import JobOptions

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", rq_stream.__all__)
def test_every_public_name_imports_from_the_top(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from rq_stream import {name}", namespace)
    assert namespace[name] is getattr(importlib.import_module("rq_stream"), name)


def test_the_names_the_readme_lists_are_public() -> None:
    documented = {"RedisOutOfMemory", "SerializationError", "ReplicationTimeout", "LockLost",
                  "LockNotAcquired", "RateLimited", "UnknownTask", "JobContext"}  # fmt: skip
    assert documented <= set(rq_stream.__all__)
    assert issubclass(rq_stream.LockNotAcquired, rq_stream.RqStreamError)
    assert issubclass(rq_stream.RateLimited, TimeoutError)


def test_call_options_merge_into_a_new_call() -> None:
    app = RqStream("redis://127.0.0.1:1/0", prefix="surface")

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    plain = add.call(1, 2)
    later = plain.options(delay_s=1, queue="q")
    assert plain.job_options == JobOptions()  # unchanged
    assert later.job_options == JobOptions(delay_s=1, queue="q")
    named = later.options(job_id="j-1")
    assert named.job_options == JobOptions(job_id="j-1", delay_s=1, queue="q")
    at = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    assert named.options(at=at).job_options == JobOptions(job_id="j-1", at=at, queue="q")
    bound = add.options(queue="other").call(3, 4).options(result_ttl_s=5)
    assert bound.job_options == JobOptions(queue="other", result_ttl_s=5)
    assert (bound.args, bound.kwargs) == ((3, 4), {})
    with pytest.raises(EnqueueError, match="give either delay_s or at, not both"):
        plain.options(delay_s=1, at=at)
    with pytest.raises(EnqueueError, match="delay_s must be a number of seconds >= 0, got -1"):
        plain.options(delay_s=-1)


async def test_call_options_reach_enqueue_many(app: RqStream) -> None:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    (job, other) = await app.enqueue_many(
        [add.call(1, 2).options(job_id="call-1", delay_s=60), add.call(3, 4)]
    )
    assert job.id == "call-1"
    assert await job.status() is JobStatus.SCHEDULED
    assert await other.status() is JobStatus.QUEUED


SCRIPT = """
import asyncio, os
from rq_stream import RqStream

app = RqStream(os.environ["REDIS_URL"], prefix=os.environ["RQ_STREAM_PREFIX"])

@app.task(result_ttl_s=60)
async def double(x: int) -> int:
    return 2 * x

async def main() -> None:
    async with app:
        job = await double.enqueue(21)
        print(double.name, flush=True)
        print(await job.result(timeout_s=60), flush=True)

if __name__ == "__main__":
    asyncio.run(main())
"""


@pytest.mark.parametrize("how", [["mymod.py"], ["-m", "mymod"]], ids=["file", "dash-m"])
def test_task_of_a_script_runs_on_a_cli_worker(
    tmp_path: Path, redis_url: str, prefix: str, how: list[str]
) -> None:
    (tmp_path / "mymod.py").write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq_stream", "worker", "mymod:app", "--log-level", "WARNING"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        script = subprocess.run(
            [sys.executable, *how], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=90,
        )  # fmt: skip
    finally:
        worker.terminate()
        logs = worker.communicate(timeout=30)[0].decode()
    assert script.returncode == 0, script.stderr + logs
    assert script.stdout.split() == ["mymod.double", "42"], logs
    assert "UnknownTask" not in logs


async def test_info_tells_running_from_prefetched_and_stays_fresh(app: RqStream) -> None:
    from rq_stream import Worker
    from rq_stream.client import admin

    gate = anyio.Event()

    @app.task
    async def wait_for_gate() -> None:
        await gate.wait()

    await app.enqueue_many([wait_for_gate.call() for _ in range(3)])
    # heartbeat_s=60: the backends' liveness beat is slow; the info row is rewritten anyway.
    worker = Worker(app, concurrency=1, prefetch=1, handle_signals=False, heartbeat_s=60,
                    grace_s=5)  # fmt: skip

    async def row_when(ok: Callable[[admin.WorkerInfo], bool]) -> admin.WorkerInfo:
        with anyio.fail_after(30):  # generous: the row is rewritten every second
            while True:
                snapshot = await admin.gather(app.context, app.task_queues())
                if snapshot.workers and ok(snapshot.workers[0]):
                    return snapshot.workers[0]
                await anyio.sleep(0.05)

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        held = await row_when(lambda w: w.running == 1 and w.in_flight == 2)
        assert held.prefetched == 1  # -c 1 --prefetch 1: one runs, one waits in the buffer
        gate.set()
        done = await row_when(lambda w: w.completed == 3)
        assert (done.running, done.prefetched, done.in_flight) == (0, 0, 0)
        worker.request_stop()
