"""Middleware at the edges: dead letters the worker writes without running the job, the lists
backend, and a worker whose ``run()`` is cancelled."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, cast

import anyio
import pytest
import structlog

from rq_stream import TaskFailed, Worker
from rq_stream.backends.base import Backend, Completion, Delivery
from rq_stream.client.app import RqStream
from rq_stream.codec import decode_envelope, dumps
from rq_stream.errors import EnvelopeError
from rq_stream.worker.completer import Completer
from rq_stream.worker.hooks import WorkerHooks
from rq_stream.worker.job_context import WorkerInfo
from tests.test_middleware import Event, Recorder, burst, register


async def _held(app: RqStream, backend: Backend, n: int) -> list[Delivery]:
    """Take and start ``n`` jobs as a worker would (as tests/contract/test_validation.py)."""
    await backend.prepare()
    got: list[Delivery] = []
    while len(got) < n:
        got += await backend.fetch(n - len(got), 1000)
    for d in got:
        d.job_id = decode_envelope(d.raw).job_id
        d.max_attempts, d.result_ttl_s = 3, 60
    assert all(a == 1 for a in await backend.start(got))
    for d in got:
        d.started, d.attempt = True, 1
    return got


@pytest.mark.parametrize("backend", ["streams", "lists"])
async def test_garbage_fires_on_dead_letter_alone(make_app: Any, backend: str) -> None:
    events: list[Event] = []
    seen: dict[str, Any] = {}
    app = make_app(middleware=[Recorder("A", events, seen)])
    app.queue("default", backend=backend)
    register(app)
    async with app:
        k = app.keys.queue("default")
        await app.backend("default").prepare()
        garbage = b"\xc1\xff not msgpack at all"
        if backend == "streams":
            await app.redis.xadd(k.stream, {"d": garbage})
        else:
            await app.redis.lpush(k.pending, garbage)
        await burst(app).run()
    job_hooks = [(hook, key) for _, hook, key in events if not hook.startswith("on_worker")]
    assert job_hooks == [("on_dead_letter", "")]  # no id: the payload has none to read
    exc = seen["A:on_dead_letter:"]
    assert isinstance(exc, EnvelopeError)
    assert str(exc).startswith("payload could not be decoded")


async def test_a_job_started_too_often_fires_on_dead_letter_as_worker_lost(make_app: Any) -> None:
    events: list[Event] = []
    seen: dict[str, Any] = {}
    app = make_app(middleware=[Recorder("A", events, seen)])
    ok = register(app)["ok"]
    async with app:
        job = await ok.enqueue(1)
        # As if three workers had died running it: its next start is one too many.
        await app.redis.hset(app.keys.queue("default").job(job.id), "a", 3)
        await burst(app).run()
    job_hooks = [hook for _, hook, key in events if key == job.id]
    assert job_hooks == ["before_enqueue", "on_dead_letter"]
    exc = seen[f"A:on_dead_letter:{job.id}"]
    assert isinstance(exc, TaskFailed) and exc.exc_type == "WorkerLost"
    assert "started too many times without finishing" in str(exc)


@pytest.mark.parametrize("backend", ["lists"])
async def test_the_lists_backend_fires_the_same_hooks(make_app: Any, backend: str) -> None:
    events: list[Event] = []
    app = make_app(middleware=[Recorder("A", events, {})])
    app.queue("default", backend=backend)
    tasks = register(app)
    async with app:
        ok, flaky, doomed = [await tasks[n].enqueue(*a) for n, a in
                             (("ok", (1,)), ("flaky", ()), ("doomed", ()))]  # fmt: skip
        await burst(app).run()
    counts = Counter((hook, key) for _, hook, key in events if hook.startswith("on_")
                     and not hook.startswith("on_worker"))  # fmt: skip
    assert counts == {
        ("on_start", ok.id): 1, ("on_success", ok.id): 1,
        ("on_start", flaky.id): 2, ("on_failure", flaky.id): 1, ("on_retry", flaky.id): 1,
        ("on_success", flaky.id): 1,
        ("on_start", doomed.id): 2, ("on_failure", doomed.id): 2, ("on_retry", doomed.id): 1,
        ("on_dead_letter", doomed.id): 1,
    }  # fmt: skip


async def test_a_cancelled_worker_still_fires_on_worker_stop_once(make_app: Any) -> None:
    events: list[Event] = []
    app = make_app(middleware=[Recorder("A", events, {})])

    @app.task(name="forever")
    async def forever() -> None:
        await anyio.sleep(60)

    async with app:
        job = await forever.enqueue()
        worker = Worker(app, handle_signals=False, name="w-cancel")
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            with anyio.fail_after(10):
                while ("A", "on_start", job.id) not in events:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    hooks = [hook for _, hook, _ in events]
    assert hooks == ["before_enqueue", "on_worker_start", "on_start", "on_worker_stop"]


async def test_the_completer_reports_a_job_it_dead_letters(make_app: Any) -> None:
    events: list[Event] = []
    seen: dict[str, Any] = {}
    app = make_app()
    ok = register(app)["ok"]
    hooks = WorkerHooks([Recorder("A", events, seen)], structlog.get_logger(),
                        WorkerInfo("tester", ("default",), 1, os.getpid(), False))  # fmt: skip
    async with app:
        jobs = await app.enqueue_many([ok.call(i) for i in range(3)])
        b = app.backend("default", "tester")
        held = await _held(app, b, 3)
        bad = next(d for d in held if d.job_id == jobs[1].id)
        bad.result_ttl_s = cast(int, 2.5)
        completer = Completer({"default": b}, lambda _: None, "tester", hooks.dead_lettered)
        await completer._flush([Completion(d, dumps(7)) for d in held])
    assert events == [("A", "on_dead_letter", jobs[1].id)]
    exc = seen[f"A:on_dead_letter:{jobs[1].id}"]
    assert isinstance(exc, TaskFailed) and exc.exc_type == "InvalidJob"
    assert exc.message.startswith("result_ttl_s=2.5 is not an int from 0 to 2147483647")


def test_sync_enqueues_fire_before_enqueue(make_app: Any) -> None:
    """From plain code with no event loop (``task.enqueue_sync``), middleware added late too."""
    events: list[Event] = []
    app = make_app(middleware=[Recorder("A", events, {})])
    ok = register(app)["ok"]
    try:
        first = ok.enqueue_sync(1)
        app.add_middleware(Recorder("B", events, {}))
        second = ok.enqueue_sync(2)
    finally:
        app.sync.close()
    assert events == [("A", "before_enqueue", first.id), ("A", "before_enqueue", second.id),
                      ("B", "before_enqueue", second.id)]  # fmt: skip
