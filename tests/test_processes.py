"""process=True tasks (a worker subprocess per call) and what a GIL-holding C call does to a
lease: real worker processes, a real redis-server."""

from __future__ import annotations

import math
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from rq_stream import RqStream, TaskFailed, Worker
from rq_stream.errors import ConfigurationError
from tests.apps import processes_app
from tests.conftest import Procs

from .contract.conftest import output, wait_until

QUEUE = processes_app.QUEUE


def twin(url: str, prefix: str, lease_s: float = 30.0) -> RqStream:
    """A twin of tests.apps.processes_app (same task names and options) on the test's Redis."""
    app = RqStream(url, prefix=prefix, lease_s=lease_s)
    for task in processes_app.app.tasks.values():
        s = task.settings
        app.task(name=task.name, queue=QUEUE, process=s.process, timeout_s=s.timeout_s)(task.fn)
    return app


def worker(app: RqStream) -> Worker:
    return Worker(app, queues=[QUEUE], concurrency=2, burst=True, handle_signals=False)


async def run_one(app: RqStream, name: str, *args: Any) -> Any:
    job = await app.enqueue_by_name(name, args)
    await worker(app).run()
    return await job.result(timeout_s=5)


async def failure(app: RqStream, name: str, *args: Any) -> TaskFailed:
    with pytest.raises(TaskFailed) as caught:
        await run_one(app, name, *args)
    return caught.value


async def test_process_task_runs_in_a_subprocess(redis_url: str, prefix: str) -> None:
    async with twin(redis_url, prefix) as app:
        got = await run_one(app, processes_app.where.name)
    assert got["pid"] != os.getpid()
    assert got["attempt"] == 1  # current_job() works in the subprocess


async def test_a_dying_subprocess_fails_its_job_not_the_worker(redis_url: str, prefix: str) -> None:
    async with twin(redis_url, prefix) as app:
        dies = await app.enqueue_by_name(processes_app.die.name, [3])
        after = await app.enqueue_by_name(processes_app.where.name)
        await worker(app).run()
        with pytest.raises(TaskFailed) as caught:
            await dies.result(timeout_s=5)
        assert (await after.result(timeout_s=5))["pid"] != os.getpid()
    assert caught.value.exc_type == "ProcessDied"
    assert "died before it returned" in caught.value.message


async def test_timeout_kills_the_subprocess(redis_url: str, prefix: str, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    async with twin(redis_url, prefix) as app:
        # One at a time: `where` starts the subprocess (timeout_s counts a cold start too).
        await app.enqueue_by_name(processes_app.where.name)
        hangs = await app.enqueue_by_name(processes_app.hang.name, [str(log)])
        await Worker(app, queues=[QUEUE], concurrency=1, burst=True, handle_signals=False).run()
        with pytest.raises(TaskFailed) as caught:
            await hangs.result(timeout_s=5)
    failed = caught.value
    assert failed.exc_type == "TaskTimeout"
    pid = int(log.read_text().split()[1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_exceptions_cross_back_with_the_subprocess_traceback(
    redis_url: str, prefix: str
) -> None:
    async with twin(redis_url, prefix) as app:
        value = await failure(app, processes_app.fail.name, "value")
        custom = await failure(app, processes_app.fail.name, "custom")
        exit_ = await failure(app, processes_app.fail.name, "exit")
    assert (value.exc_type, value.message) == ("ValueError", "bad value in the subprocess")
    assert "raised in the worker subprocess" in value.traceback
    assert 'raise ValueError("bad value in the subprocess")' in value.traceback
    assert (custom.exc_type, custom.message) == ("ProcessTaskError", "Custom: 1/2")
    assert exit_.exc_type == "ProcessTaskError"
    assert "raised SystemExit(7) in its subprocess" in exit_.message


def _not_importable() -> int:
    return 1


_not_importable.__module__ = "tests.apps.no_such_module"


async def test_a_task_the_subprocess_cannot_import_fails_clearly(
    redis_url: str, prefix: str
) -> None:
    async with RqStream(redis_url, prefix=prefix) as app:
        app.task(name="lost", queue=QUEUE, process=True)(_not_importable)
        failed = await failure(app, "lost")
    assert failed.exc_type == "ProcessTaskError"
    assert failed.message == (
        "the subprocess could not import task 'lost' as tests.apps.no_such_module."
        "_not_importable: ModuleNotFoundError: No module named 'tests.apps.no_such_module'"
    )


def test_process_true_refuses_what_a_subprocess_cannot_run() -> None:
    app = RqStream(prefix="t")
    here = "test_process_true_refuses_what_a_subprocess_cannot_run.<locals>"
    top = (
        "needs a function defined at the top level of a module (the subprocess imports it by name)"
    )

    async def coro() -> None: ...

    def nested() -> None: ...

    with pytest.raises(ConfigurationError) as caught:
        app.task(name="a", process=True)(coro)
    assert str(caught.value) == (
        "task 'a': process=True runs a plain def in a subprocess; an async def runs on the "
        "event loop (make it a def, or move its CPU-bound part into a process=True task)"
    )
    with pytest.raises(ConfigurationError) as caught:
        app.task(name="b", process=True)(lambda: None)
    assert str(caught.value) == f"task 'b': process=True {top}; got {here}.<lambda>"
    with pytest.raises(ConfigurationError) as caught:
        app.task(name="c", process=True)(nested)
    assert str(caught.value) == f"task 'c': process=True {top}; got {here}.nested"
    with pytest.raises(ConfigurationError) as caught:
        app.task(name="d", process="yes")(_not_importable)  # type: ignore[call-overload]
    assert str(caught.value) == "invalid setting of task 'd': process must be a bool, got 'yes'"
    assert not app.tasks


# ------------------------------------------------------------------ one C call holding the GIL
def test_the_regex_call_holds_the_gil() -> None:
    """The premise of the tests below: while the call runs, no other thread ticks."""
    import threading

    ticks: list[float] = []
    done = threading.Event()

    def tick() -> None:
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    processes_app.hold_gil_once(22)
    end = time.monotonic()
    done.set()
    t.join()
    assert end - start > 0.1, "the call was too short to tell"
    assert not [x for x in ticks if start + 0.02 < x < end - 0.02]


def gil_steps(seconds: float) -> int:
    """The n for which hold_gil_once(n) takes about ``seconds`` here (it doubles with n)."""
    timings = []
    for _ in range(3):  # the least disturbed of three: a busy machine must not shorten the hold
        start = time.monotonic()
        processes_app.hold_gil_once(20)
        timings.append(time.monotonic() - start)
    once = max(min(timings), 1e-3)
    return 20 + max(1, math.ceil(math.log2(seconds / once)))


def runs(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("start")]


LEASE_S = 1.5


def two_workers(procs: Procs, url: str, prefix: str) -> list[Any]:
    target, env = "tests.apps.processes_app:app", {"RQS_LEASE_S": str(LEASE_S)}
    return [procs.worker(target, url, prefix, "--concurrency", "2", env=env) for _ in range(2)]


async def workers_up(app: RqStream, n: int) -> None:
    async def up() -> bool:
        return int(await app.redis.zcard(app.keys.workers)) >= n

    await wait_until(up, 30, f"{n} workers to start")


@pytest.mark.slow
async def test_gil_holding_call_in_a_process_task_keeps_its_lease(
    redis_url: str, prefix: str, procs: Procs, tmp_path: Path
) -> None:
    """Guaranteed: the loop stays free, renewal goes on, the job runs once on two workers."""
    log = tmp_path / "runs"
    n = gil_steps(4 * LEASE_S)
    async with twin(redis_url, prefix, LEASE_S) as app:
        workers = two_workers(procs, redis_url, prefix)
        await workers_up(app, 2)
        job = await app.enqueue_by_name(processes_app.in_process.name, [str(log), n])
        with anyio.fail_after(120):
            assert await job.result() == n
        await anyio.sleep(3 * LEASE_S)  # time for a wrongful reclaim to show
        info = await job.info()
    assert len(runs(log)) == 1, log.read_text()
    assert info.attempts == 1
    for w in workers:
        w.kill()
        w.wait(10)
        assert "lost the lease" not in output(w)


@pytest.mark.slow
async def test_gil_holding_call_in_a_thread_loses_its_lease(
    redis_url: str, prefix: str, procs: Procs, tmp_path: Path
) -> None:
    """Documented, not guaranteed against: a C call holding the GIL longer than lease_s in a
    plain def task stops renewal; the job is taken over and run again, and after max_attempts
    it is dead-lettered as WorkerLost, saying the worker stalled rather than died."""
    log = tmp_path / "runs"
    n = gil_steps(4 * LEASE_S)
    async with twin(redis_url, prefix, LEASE_S) as app:
        workers = two_workers(procs, redis_url, prefix)
        await workers_up(app, 2)
        job = await app.enqueue_by_name(processes_app.in_thread.name, [str(log), n])
        with anyio.fail_after(180), pytest.raises(TaskFailed) as caught:
            await job.result()
    assert len(runs(log)) >= 2, log.read_text()
    assert caught.value.exc_type == "WorkerLost"
    assert "its worker died or stopped renewing its lease each time" in caught.value.message
    assert "a call holding the GIL or blocking the event loop longer than lease_s" in (
        caught.value.message
    )
    assert re.search(
        r"; \d attempt\(s\) were lost by a worker that was still alive", (caught.value.message)
    )
    logs = ""
    for w in workers:
        w.kill()
        w.wait(10)
        logs += output(w)
    assert "lost the lease of a running job" in logs


@pytest.mark.slow
async def test_a_process_task_whose_lease_is_lost_has_its_subprocess_killed(
    redis_url: str, prefix: str, procs: Procs, tmp_path: Path
) -> None:
    """Worker A runs `linger` in a subprocess, then an async task blocks A's loop for 3 leases;
    worker B takes `linger` over. When A's renewal finds the lease lost, A kills its subprocess
    (the job runs on B) and writes nothing for that attempt."""
    log = tmp_path / "runs"
    async with twin(redis_url, prefix, LEASE_S) as app:
        a = Worker(app, queues=[QUEUE], concurrency=4, handle_signals=False, name="A")
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run)
            job = await app.enqueue_by_name(processes_app.linger.name, [str(log), 6 * LEASE_S])

            async def started() -> bool:
                return log.exists() and "start 1" in log.read_text()

            await wait_until(started, 30, "attempt 1 to start in a subprocess of A")
            await app.enqueue_by_name(processes_app.block_loop.name, [3 * LEASE_S])
            (b,) = [procs.worker("tests.apps.processes_app:app", redis_url, prefix,
                                 env={"RQS_LEASE_S": str(LEASE_S)})]  # fmt: skip
            with anyio.fail_after(120):
                assert await job.result() == 2
            first_pid = int(log.read_text().split()[2])

            async def killed() -> bool:
                try:
                    os.kill(first_pid, 0)
                except ProcessLookupError:
                    return True
                return False

            await wait_until(killed, 30, "A to kill the subprocess of attempt 1")
            a.request_stop()
    lines = log.read_text().splitlines()
    assert lines[0].startswith("start 1 ") and "end 1" not in log.read_text(), lines
    assert [x.split()[:2] for x in lines if x.startswith("end")] == [["end", "2"]]
    b.kill()
    b.wait(10)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
async def test_subprocesses_die_with_a_sigkilled_worker(
    redis_url: str, prefix: str, procs: Procs, tmp_path: Path
) -> None:
    log = tmp_path / "runs"
    async with twin(redis_url, prefix) as app:
        w = procs.worker("tests.apps.processes_app:app", redis_url, prefix)
        await app.enqueue_by_name(processes_app.linger.name, [str(log), 60])

        async def started() -> bool:
            return log.exists() and "start 1" in log.read_text()

        await wait_until(started, 30, "the job to start in a subprocess")
        child = int(log.read_text().split()[2])
        w.send_signal(signal.SIGKILL)
        w.wait(10)

        async def gone() -> bool:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return True
            return False

        await wait_until(gone, 30, "the orphaned subprocess to be killed")


async def test_a_lost_attempt_is_counted_once_on_a_live_job_only(
    redis_url: str, prefix: str
) -> None:
    async with RqStream(redis_url, prefix=prefix) as app:
        k = app.keys.queue(QUEUE)
        await app.redis.hset(k.job("run"), mapping={"s": "running", "a": 2})
        await app.redis.hset(k.job("done"), mapping={"s": "succeeded", "a": 1})

        async def lost(*pairs: object) -> int:
            return int(await app.scripts.run("job_lost", (k.job_prefix,), list(pairs)))

        assert await lost("run", 1, "done", 1, "gone", 1) == 1
        assert await lost("run", 1) == 0  # reported again by the next renewal
        assert await lost("run", 2) == 1
        assert await app.redis.hget(k.job("run"), "ls") == b"2"
        assert await app.redis.hget(k.job("done"), "ls") is None
        assert not await app.redis.exists(k.job("gone"))
