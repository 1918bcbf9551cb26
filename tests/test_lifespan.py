"""``@app.lifespan``: once per worker run, before the first job and after the last, its state in
every job; a lifespan failing at start strands nothing and stops the worker (exit 78 under the
CLI, not restarted by the supervisor); a failing exit is logged (in-process workers, and real
worker processes for the CLI and the supervisor)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from rq_stream import (
    Depends,
    JobStatus,
    LifespanFailed,
    RqStream,
    Worker,
    WorkerInfo,
    current_job,
    worker_state,
)
from rq_stream.errors import ConfigurationError
from rq_stream.worker.supervisor import EXIT_CANNOT_START

from .test_cli import ROOT, cli_command, cli_env
from .test_supervisor import Supervised
from .test_supervisor import supervise as supervise

LIFESPAN_APP = "tests.apps.lifespan_app:app"


def burst(app: RqStream, **kw: Any) -> Worker:
    return Worker(app, concurrency=4, burst=True, handle_signals=False, **kw)


async def test_lifespan_runs_once_around_the_jobs_and_its_state_reaches_them(
    app: RqStream,
) -> None:
    events: list[Any] = []

    @app.task(result_ttl_s=60)
    async def use(i: int, state: dict[str, int] = Depends(worker_state)) -> list[int]:
        job = current_job()
        assert job is not None and job.state is state
        return [i, state["answer"]]

    jobs = [await use.enqueue(i) for i in range(5)]

    @app.lifespan
    async def lifespan(worker: WorkerInfo) -> AsyncIterator[dict[str, int]]:
        events.append(worker)
        events.append(await jobs[0].status())  # no job is taken before the lifespan started
        yield {"answer": 42}
        events.append("closed")

    worker = burst(app, name="w-1")
    await worker.run()
    assert [await j.result(timeout_s=5) for j in jobs] == [[i, 42] for i in range(5)]
    info, status, closed = events
    assert info == WorkerInfo("w-1", ("default",), 4, info.pid, True)
    assert status is JobStatus.QUEUED
    assert closed == "closed"
    await worker.run()  # a second run is a second lifespan
    assert events.count("closed") == 2


async def test_a_lifespan_may_return_an_async_context_manager(app: RqStream) -> None:
    class Pool:
        opened = closed = 0

        def __init__(self, worker: WorkerInfo) -> None:
            self.queues = worker.queues

        async def __aenter__(self) -> Pool:
            Pool.opened += 1
            return self

        async def __aexit__(self, *exc: object) -> None:
            Pool.closed += 1

    app.lifespan(Pool)

    @app.task(result_ttl_s=60)
    async def queues(pool: Pool = Depends(worker_state)) -> list[str]:
        return list(pool.queues)

    job = await queues.enqueue()
    await burst(app).run()
    assert await job.result(timeout_s=5) == ["default"]
    assert (Pool.opened, Pool.closed) == (1, 1)


async def test_a_lifespan_failing_at_start_stops_the_worker_and_strands_nothing(
    app: RqStream,
) -> None:
    @app.task
    async def never() -> None:
        raise AssertionError("no job runs without its lifespan")

    job = await never.enqueue()

    @app.lifespan
    async def lifespan(worker: WorkerInfo) -> AsyncIterator[None]:
        raise OSError("database unreachable")
        yield

    with pytest.raises(LifespanFailed) as failed:
        await burst(app).run()
    assert str(failed.value) == (
        f"the worker lifespan {lifespan.__module__}.{lifespan.__qualname__} failed at start: "
        "OSError: database unreachable"
    )
    assert isinstance(failed.value.__cause__, OSError)
    info = await job.info()
    assert (info.status, info.attempts) == (JobStatus.QUEUED, 0)


async def test_errors_at_exit_are_logged_and_worker_cached_providers_close_first(
    app: RqStream,
) -> None:
    events: list[str] = []

    async def client(state: str = Depends(worker_state)) -> AsyncIterator[str]:
        yield f"client of {state}"
        events.append("client closed")
        raise RuntimeError("client close failed")

    @app.task(result_ttl_s=60)
    async def use(c: str = Depends(client, scope="worker")) -> str:
        return c

    @app.lifespan
    async def lifespan(worker: WorkerInfo) -> AsyncIterator[str]:
        yield "pool"
        events.append("lifespan closing")
        raise RuntimeError("pool close failed")

    job = await use.enqueue()
    worker = burst(app)
    with capture_logs() as logs:
        await worker.run()  # the exits' errors are not raised over the worker's outcome
    assert await job.result(timeout_s=5) == "client of pool"
    assert events == ["client closed", "lifespan closing"]
    errors = [(x["event"], x["error"]) for x in logs if x["log_level"] == "error"]
    assert errors == [
        ("cleaning up the worker-cached dependencies failed", "RuntimeError: client close failed"),
        ("exiting the worker lifespan failed", "RuntimeError: pool close failed"),
    ]
    assert "worker stopped" in [x["event"] for x in logs]


def test_what_cannot_be_a_lifespan_is_refused_at_registration(app: RqStream) -> None:
    async def no_yield(worker: WorkerInfo) -> None: ...

    with pytest.raises(ConfigurationError, match="is an async def without a yield"):
        app.lifespan(no_yield)  # type: ignore[type-var]

    def plain_generator(worker: WorkerInfo) -> Any:
        yield None

    with pytest.raises(ConfigurationError, match="is a plain generator"):
        app.lifespan(plain_generator)

    async def good(worker: WorkerInfo) -> AsyncIterator[None]:
        yield None

    app.lifespan(good)
    with pytest.raises(ConfigurationError, match="a lifespan is already registered"):
        app.lifespan(good)


async def test_process_tasks_do_not_receive_the_state(redis_url: str, prefix: str) -> None:
    from tests.apps import lifespan_app

    lifespan_app.app.url, lifespan_app.app.prefix = redis_url, prefix
    async with lifespan_app.app as app:
        job = await lifespan_app.state_in_subprocess.enqueue()
        await Worker(app, concurrency=1, burst=True, handle_signals=False).run()
        assert await job.result(timeout_s=30) == "None"


# ---------------------------------------------------------------------- real processes
def run_worker(
    redis_url: str, prefix: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command("worker", LIFESPAN_APP, *args),
        cwd=ROOT,
        env={**cli_env(redis_url, prefix), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_worker_with_a_failing_lifespan_exits_78_with_one_line(
    redis_url: str, prefix: str
) -> None:
    done = run_worker(redis_url, prefix, "--burst", LIFESPAN_FAIL="1")
    assert done.returncode == EXIT_CANNOT_START, done.stderr
    assert done.stderr.count("database unreachable") == 1, done.stderr
    assert done.stderr.rstrip().splitlines()[-1] == (
        "rq-stream: error: the worker lifespan tests.apps.lifespan_app.lifespan failed at start: "
        "RuntimeError: database unreachable"
    )


def test_supervisor_does_not_restart_children_whose_lifespan_fails(
    supervise: Callable[..., Supervised], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFESPAN_FAIL", "1")  # the supervisor's children inherit it
    s = supervise(LIFESPAN_APP, "--processes", "2", "--restart-delay", "0.05")
    assert s.proc.wait(30) == EXIT_CANNOT_START, s.log
    s._reader.join(5)
    assert s.log.count("worker process started") == 2, s.log  # never restarted
    assert s.log.count("database unreachable") == 1, s.log  # reported once
    assert s.log.rstrip().splitlines()[-1] == (
        "rq-stream: error: a worker process cannot start: the worker lifespan "
        "tests.apps.lifespan_app.lifespan failed at start: RuntimeError: database unreachable"
    )


@pytest.mark.slow
def test_each_supervised_process_opens_and_closes_its_lifespan_once(
    supervise: Callable[..., Supervised],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    prefix: str,
) -> None:
    monkeypatch.setenv("LIFESPAN_DIR", str(tmp_path))
    s = supervise(LIFESPAN_APP, "--processes", "2", "--restart-delay", "0.05")

    def marks(kind: str) -> set[int]:
        return {int(p.name.split("-")[1]) for p in tmp_path.glob(f"{kind}-*")}

    def wait_for(predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not predicate():
            assert time.monotonic() < deadline, f"{sorted(tmp_path.iterdir())}\n{s.log}"
            time.sleep(0.05)

    first = s.wait_children(lambda pids: len(pids) == 2)
    wait_for(lambda: marks("open") == first)
    killed = min(first)
    os.kill(killed, signal.SIGKILL)
    after = s.wait_children(lambda pids: len(pids) == 2 and killed not in pids)
    wait_for(lambda: marks("open") == first | after)
    results = anyio.run(enqueue_and_wait, redis_url, prefix)
    assert {pid for _, pid, _ in results} <= after
    assert all(pid == state_pid for _, pid, state_pid in results)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(30) == 0, s.log
    assert marks("open") == first | after  # one lifespan per process
    assert marks("close") == after  # each closed once, but the SIGKILLed one


async def enqueue_and_wait(redis_url: str, prefix: str) -> list[list[int]]:
    from tests.apps import lifespan_app

    app = RqStream(redis_url, prefix=prefix)
    task = app.task(name=lifespan_app.whoami.name)(lifespan_app.whoami.fn)
    async with app:
        jobs = [await task.enqueue(i) for i in range(20)]
        return [await job.result(timeout_s=20) for job in jobs]


def test_the_lifespan_example_runs(redis_url: str, prefix: str, tmp_path: Path) -> None:
    from .test_examples import run_module

    db = str(tmp_path / "example.sqlite3")
    done = run_module("workers.lifespan_example", redis_url, RQ_STREAM_PREFIX=prefix,
                      LIFESPAN_EXAMPLE_DB=db)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("database opened (queues: default)")
    assert lines[1].endswith("database closed")
    assert lines[2:] == [
        "charge(1, 'coffee') -> 350 cents",
        "charge(2, 'bagel') -> 200 cents",
        "charge(3, 'caviar') failed: KeyError: 'caviar'",
        "charges in the database: [(1, 350), (2, 200)]",  # order 3 was rolled back
    ]


async def test_run_until_idle_runs_the_lifespan_and_injects(app: RqStream) -> None:
    from rq_stream.testing import run_until_idle

    events: list[str] = []

    @app.lifespan
    async def lifespan(worker: WorkerInfo) -> AsyncIterator[str]:
        events.append("open")
        yield "state"
        events.append("close")

    @app.task(result_ttl_s=60)
    async def echo(x: int, state: str = Depends(worker_state)) -> str:
        return f"{state}-{x}"

    job = await echo.enqueue(1)
    report = await run_until_idle(app)
    assert report.completed == 1
    assert await job.result(timeout_s=5) == "state-1"
    assert events == ["open", "close"]
