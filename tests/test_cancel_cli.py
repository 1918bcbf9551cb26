"""Cancel and progress from the outside: ``rq-stream cancel``, ``rq-stream result --watch`` (a
progress bar), running jobs cancelled in a CLI worker process (none completes or retries), a
``process=True`` task's subprocess killed, and the runnable example."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import pytest_asyncio

from rq_stream import JobCancelled, JobStatus, RqStream, Worker
from rq_stream.client.job import Job
from tests.apps import processes_app
from tests.conftest import Procs
from tests.contract.conftest import output, wait_until
from tests.test_cli import Cli, cli_command, cli_env, ok
from tests.test_examples import run_module
from tests.test_processes import twin

APP = "workers.progress_example:app"
EXAMPLE = "workers.progress_example"
ROOT = Path(__file__).resolve().parent.parent


@pytest_asyncio.fixture
async def eapp(redis_url: str, prefix: str) -> AsyncIterator[RqStream]:
    """The example's tasks (same names) on the test's Redis and prefix."""
    from workers import progress_example

    application = RqStream(redis_url, prefix=prefix)
    for task in progress_example.app.tasks.values():
        application.task(name=task.name)(task.fn)
    async with application:
        yield application


@pytest.fixture
def cli(redis_url: str, prefix: str) -> Cli:
    """Run ``rq-stream ARGS`` and return the finished process."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cli_command(*args), cwd=ROOT, env=cli_env(redis_url, prefix),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)  # fmt: skip

    return run


def start_watching(redis_url: str, prefix: str, job_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_command("result", APP, job_id, "--watch", "--wait", "60"),
        cwd=ROOT,
        env=cli_env(redis_url, prefix),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def statuses(jobs: list[Job[object]], status: JobStatus) -> None:
    async def reached() -> bool:
        return all([await j.status() == status for j in jobs])

    await wait_until(reached, 20, f"every job to be {status.value}")


async def test_cli_cancel_reports_each_case(eapp: RqStream, cli: Cli) -> None:
    job = await eapp.get_task(f"{EXAMPLE}.crawl").options(delay_s=60).enqueue(3)
    assert ok(cli("cancel", APP, job.id)) == f"cancelled job {job.id} (queue 'default')"
    again = cli("cancel", APP, job.id)
    assert (again.returncode, again.stdout.strip()) == (
        1,
        f"job {job.id} had already finished (cancelled): nothing to cancel",
    )
    unknown = cli("cancel", APP, "nope")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "rq-stream: error: cannot cancel job 'nope': no such job in queue 'default' (never "
        "enqueued there, or its record expired)",
    )
    result = cli("result", APP, job.id)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"rq-stream: job {job.id} was cancelled: it has no result",
    )


async def test_result_watch_shows_a_progress_bar(
    eapp: RqStream, redis_url: str, prefix: str, procs: Procs
) -> None:
    job = await eapp.enqueue_by_name(f"{EXAMPLE}.resize", [10])
    watcher = start_watching(redis_url, prefix, job.id)
    await anyio.sleep(1.5)  # the watcher subscribes before the job starts
    procs.worker(APP, redis_url, prefix, "--concurrency", "2")
    out, err = await anyio.to_thread.run_sync(lambda: watcher.communicate(timeout=60))
    assert watcher.returncode == 0, err
    lines = out.strip().splitlines()
    assert lines[-2:] == ["[##############################] 100% resized 10/10", "10"]
    assert "[###---------------------------]  10% resized 1/10" in lines  # most updates shown


async def test_running_jobs_cancelled_in_a_cli_worker_never_complete_or_retry(
    eapp: RqStream, redis_url: str, prefix: str, procs: Procs
) -> None:
    worker = procs.worker(APP, redis_url, prefix, "--concurrency", "8", "--processes", "2")
    crawls = [await eapp.enqueue_by_name(f"{EXAMPLE}.crawl", [100]) for _ in range(3)]
    exports = [await eapp.enqueue_by_name(f"{EXAMPLE}.export", [10_000]) for _ in range(3)]
    jobs = crawls + exports
    await statuses(jobs, JobStatus.RUNNING)
    for job in jobs:
        assert await job.cancel() is True
    for job in jobs:
        with pytest.raises(JobCancelled):
            await job.result(timeout_s=5)

    async def all_acked() -> bool:
        counts = await eapp.backend("default").counts()
        return (counts.backlog, counts.in_flight, counts.delayed) == (0, 0, 0)

    await wait_until(all_acked, 15, "the workers to ack the cancelled jobs")
    await anyio.sleep(1.5)  # a crawl left running would go on; a retry would show
    for job in jobs:
        info = await job.info()
        assert (info.status, info.attempts) == (JobStatus.CANCELLED, 1), info
    assert await eapp.dead_letters("default").list() == []
    worker.terminate()
    assert output(worker).count("job cancelled") == 6


async def test_cancelling_a_process_task_kills_its_subprocess(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    log = tmp_path / "runs"
    async with twin(redis_url, prefix) as app:
        job = await app.enqueue_by_name(processes_app.linger.name, [str(log), 10.0])
        worker = Worker(app, queues=[processes_app.QUEUE], concurrency=1, handle_signals=False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)

            async def started() -> bool:
                return log.exists() and "start" in log.read_text()

            await wait_until(started, 30, "the subprocess to start the job")
            assert await job.cancel() is True
            with pytest.raises(JobCancelled):
                await job.result(timeout_s=5)
            pid = int(log.read_text().split()[2])

            async def killed() -> bool:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return True
                return False

            await wait_until(killed, 10, "the subprocess to be killed")
            worker.request_stop()
        assert "end" not in log.read_text()
        assert (await job.info()).status == JobStatus.CANCELLED


def test_the_example_runs(redis_url: str, prefix: str) -> None:
    done = run_module(EXAMPLE, redis_url, RQ_STREAM_PREFIX=prefix)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[:7] == [
        "progress 20% resized 1/5",
        "progress 40% resized 2/5",
        "progress 60% resized 3/5",
        "progress 80% resized 4/5",
        "progress 100% resized 5/5",
        "resize ended succeeded: 5 images",
        "latest progress: Progress(value=1.0, message='resized 5/5')",
    ]
    assert lines[7] == "cancel a scheduled job: True JobStatus.CANCELLED"
    assert [line.split(" (queue")[1] for line in lines[8:10]] == [
        " 'default') was cancelled: it has no result"
    ] * 2
    assert lines[10] == "cancel it again: False"


def test_sync_jobs_cancel_and_read_progress(redis_url: str, prefix: str) -> None:
    app = RqStream(redis_url, prefix=prefix)

    @app.task
    async def later() -> None: ...

    try:
        job = later.options(delay_s=60).enqueue_sync()
        assert job.cancel() is True
        assert job.cancel() is False
        assert job.status() == JobStatus.CANCELLED
        assert job.progress() is None
    finally:
        app.sync.close()
