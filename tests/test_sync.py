"""Sync producers (rq_stream.sync): enqueue and read results from plain threads with no event
loop, many at once, the jobs run by a real worker (in another thread, or a subprocess)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from rq_stream import (
    ConnectionFailed,
    EnqueueError,
    JobNotFound,
    JobStatus,
    ResultTimeout,
    RqStream,
    SyncClient,
    SyncJob,
    TaskFailed,
    UnknownTask,
    Worker,
)
from rq_stream.sync import SyncCallInEventLoop
from tests.conftest import ROOT, Procs

IN_LOOP = (
    "would block the event loop running in this thread: in async code use the async API "
    "(`await task.enqueue(...)`, `await app.enqueue_many(...)`, `await job.result(...)`)"
)


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a new plain thread (no event loop there) and return what it returned."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=60)


@contextmanager
def worker_thread(app: RqStream, **options: Any) -> Iterator[None]:
    """A worker on its own event loop in another thread (as a worker process would be), until
    the block ends."""
    ready = threading.Event()
    got: list[tuple[asyncio.AbstractEventLoop, Worker[RqStream]]] = []

    async def work() -> None:
        worker = Worker(app, handle_signals=False, **options)
        got.append((asyncio.get_running_loop(), worker))
        ready.set()
        try:
            await worker.run()
        finally:
            await app.close()

    thread = threading.Thread(target=asyncio.run, args=(work(),))
    thread.start()
    ready.wait(30)
    try:
        yield
    finally:
        loop, worker = got[0]
        loop.call_soon_threadsafe(worker.request_stop)
        thread.join(60)


@pytest.fixture
def sync_app(make_app: Callable[..., RqStream]) -> Iterator[RqStream]:
    application = make_app()
    yield application
    application.sync.close()


def register(app: RqStream) -> Any:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    @app.task
    async def boom(message: str) -> None:
        raise RuntimeError(message)

    @app.task
    def fan_out(n: int) -> list[str]:
        """A plain ``def`` task runs in a worker thread: it can enqueue with enqueue_sync."""
        return [add.enqueue_sync(i, i).id for i in range(n)]

    return add, boom, fan_out


def test_many_threads_enqueue_and_read_results(sync_app: RqStream) -> None:
    add, _, _ = register(sync_app)
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda t: [add.enqueue_sync(t, i) for i in range(25)], range(8)))
        jobs = [job for batch in batches for job in batch]
        assert len({j.id for j in jobs}) == 200
        assert {j.status() for j in jobs[:5]} == {JobStatus.QUEUED}
        waiting = pool.map(lambda j: j.result(timeout_s=60), jobs)  # before the worker runs
        with worker_thread(sync_app, concurrency=20):
            assert list(waiting) == [t + i for t in range(8) for i in range(25)]
    assert in_thread(lambda: jobs[0].info()).status == JobStatus.SUCCEEDED


def test_enqueue_many_options_and_a_sync_task_enqueueing(sync_app: RqStream) -> None:
    add, _, fan_out = register(sync_app)
    calls = [add.call(i, 1) for i in range(50)]
    jobs: list[SyncJob[Any]] = in_thread(lambda: sync_app.sync.enqueue_many(calls))
    named = in_thread(lambda: add.options(job_id="the-answer").enqueue_sync(40, 2))
    later = in_thread(lambda: add.options(delay_s=3600).enqueue_sync(1, 1))
    fanned = in_thread(lambda: fan_out.enqueue_sync(3))
    assert named.id == "the-answer"
    assert in_thread(later.status) == JobStatus.SCHEDULED
    with worker_thread(sync_app):
        assert in_thread(lambda: [j.result(timeout_s=30) for j in jobs]) == list(range(1, 51))
        assert in_thread(lambda: named.result(timeout_s=30)) == 42
        children = in_thread(lambda: fanned.result(timeout_s=30))
        got = in_thread(lambda: [sync_app.sync.job(c).result(timeout_s=30) for c in children])
    assert got == [0, 2, 4]


def test_errors_are_those_of_the_async_api(sync_app: RqStream) -> None:
    add, boom, _ = register(sync_app)
    with pytest.raises(EnqueueError) as bad:
        in_thread(lambda: add.enqueue_sync(1))  # type: ignore[call-arg]
    assert str(bad.value) == (
        f"arguments do not fit task {add.name!r}(x: 'int', y: 'int') -> 'int': "
        "missing a required argument: 'y'"
    )
    with pytest.raises(UnknownTask, match=r"^no task named 'nope' is registered \(known: "):
        in_thread(lambda: sync_app.sync.enqueue_by_name("nope"))
    other = RqStream(sync_app.url, prefix=sync_app.prefix)

    @other.task
    async def stranger() -> None: ...

    with pytest.raises(EnqueueError, match="belongs to another RqStream application"):
        in_thread(lambda: sync_app.sync.enqueue(stranger))
    failing = in_thread(lambda: boom.enqueue_sync("it broke"))
    with pytest.raises(ResultTimeout) as slow:
        in_thread(lambda: failing.result(timeout_s=0.2))
    assert str(slow.value) == f"job {failing.id} (queue 'default') did not finish within 0.2 s"
    with worker_thread(sync_app), pytest.raises(TaskFailed) as failed:
        in_thread(lambda: failing.result(timeout_s=30))
    assert str(failed.value) == f"job {failing.id} failed: RuntimeError: it broke"
    with pytest.raises(JobNotFound, match=r"^no job 'nope' in queue 'default': never enqueued"):
        in_thread(lambda: sync_app.sync.job("nope").result(timeout_s=1))


def test_unreachable_redis_raises_connection_failed() -> None:
    app = RqStream("redis://127.0.0.1:1/0", prefix="nowhere")
    add, _, _ = register(app)
    expected = "lost connection to Redis at redis://127.0.0.1:1/0: Error 111 connecting to"
    with app.sync:
        for call in (lambda: add.enqueue_sync(1, 2), lambda: app.sync.job("x").status()):
            with pytest.raises(ConnectionFailed) as caught:
                in_thread(call)
            assert str(caught.value).startswith(expected)
        with pytest.raises(ConnectionFailed, match="redis://127.0.0.1:1/0"):
            in_thread(app.sync.connect)


async def test_blocking_calls_refuse_to_run_inside_an_event_loop(sync_app: RqStream) -> None:
    add, _, _ = register(sync_app)
    cases = {
        "a blocking enqueue (enqueue_sync, app.sync)": lambda: add.enqueue_sync(1, 2),
        "a blocking SyncJob.result(), status() or info()": sync_app.sync.job("x").status,
        "a blocking SyncClient.connect()": sync_app.sync.connect,
    }
    for what, call in cases.items():
        with pytest.raises(SyncCallInEventLoop) as caught:
            call()
        assert str(caught.value) == f"{what} {IN_LOOP}"
    assert isinstance(caught.value, RuntimeError) and not sync_app.sync.running


def test_a_sync_client_of_its_own_closes_and_starts_again(sync_app: RqStream) -> None:
    add, _, _ = register(sync_app)
    with SyncClient(sync_app) as client:
        job = in_thread(lambda: client.enqueue(add, 2, 3))
        assert client.running and in_thread(client.job(job.id).status) == JobStatus.QUEUED
    assert not client.running
    client.close()  # twice is fine
    assert in_thread(client.job(job.id).status) == JobStatus.QUEUED  # a new loop thread
    assert client.running and repr(client).endswith("running=True)")
    client.close()
    assert [t for t in threading.enumerate() if t.name.startswith("rq_stream-sync-")] == [
        t for t in threading.enumerate() if t.name == f"rq_stream-sync-{id(sync_app.sync):x}"
    ]


def test_the_sync_client_follows_the_apps_settings(sync_app: RqStream) -> None:
    add, _, _ = register(sync_app)
    first = in_thread(lambda: add.enqueue_sync(1, 1))
    old_prefix = sync_app.prefix
    sync_app.prefix = old_prefix + "-b"  # allowed: the app itself holds no clients
    assert in_thread(first.status) == JobStatus.NOT_FOUND  # looked up under the new prefix
    second = in_thread(lambda: add.enqueue_sync(2, 2))
    with worker_thread(sync_app):
        assert in_thread(lambda: second.result(timeout_s=30)) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_loop_thread(sync_app: RqStream) -> None:
    add, _, _ = register(sync_app)
    in_thread(lambda: add.enqueue_sync(0, 0))  # the parent's loop thread is running
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            job = add.enqueue_sync(5, 5)
            os._exit(0 if job.status() == JobStatus.QUEUED else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert in_thread(lambda: add.enqueue_sync(1, 1)).status() == JobStatus.QUEUED


SCRIPT = """
import sys
from rq_stream import RqStream
app = RqStream(sys.argv[1], prefix=sys.argv[2])

@app.task(name="tests.apps.basic.add")
async def add(x: int, y: int) -> int: ...

job = add.enqueue_sync(20, 22)
print(job.result(timeout_s=60))
"""


def test_a_script_enqueues_a_real_worker_runs_it_and_the_script_exits(
    redis_url: str, prefix: str, procs: Procs
) -> None:
    """No close(): the loop thread is a daemon, closed at exit; the script does not hang."""
    procs.worker("tests.apps.basic:app", redis_url, prefix)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, redis_url, prefix],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "42\n", "")
