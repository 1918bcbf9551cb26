"""Middleware (``rq_stream.Middleware``): every hook, in order, the right number of times; hooks
that raise are logged and change no job's outcome; registration errors are clear."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from structlog.testing import capture_logs

from rq_stream import (
    Backoff,
    EnqueueInfo,
    JobContext,
    JobStatus,
    Middleware,
    RqStream,
    TaskFailed,
    Worker,
    WorkerInfo,
    current_job,
)
from rq_stream.errors import ConfigurationError, UnknownTask
from rq_stream.middleware import HOOK_RAISED

Event = tuple[str, str, str]  # (middleware, hook, job id or worker name)


class Recorder(Middleware):
    """Notes every hook call in a shared list, tagged with its own name."""

    def __init__(self, name: str, events: list[Event], seen: dict[str, Any]) -> None:
        self.name, self.events, self.seen = name, events, seen

    def note(self, hook: str, key: str, value: Any = None) -> None:
        self.events.append((self.name, hook, key))
        self.seen[f"{self.name}:{hook}:{key}"] = value

    async def before_enqueue(self, job: EnqueueInfo) -> None:
        self.note("before_enqueue", job.job_id, job)

    async def on_worker_start(self, worker: WorkerInfo) -> None:
        self.note("on_worker_start", worker.name, worker)

    async def on_worker_stop(self, worker: WorkerInfo) -> None:
        self.note("on_worker_stop", worker.name, worker)

    async def on_start(self, job: JobContext) -> None:
        assert current_job() == job
        self.note("on_start", job.job_id, job.attempt)

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        assert duration_s >= 0
        self.note("on_success", job.job_id, result)

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        self.note("on_failure", job.job_id, exc)

    async def on_retry(self, job: JobContext, exc: Exception, delay_s: float) -> None:
        self.note("on_retry", job.job_id, delay_s)

    async def on_dead_letter(self, job: JobContext, exc: Exception) -> None:
        self.note("on_dead_letter", job.job_id, exc)


class Boom(Middleware):
    """Every hook raises."""

    async def before_enqueue(self, job: EnqueueInfo) -> None:
        raise RuntimeError("boom in before_enqueue")

    async def on_worker_start(self, worker: WorkerInfo) -> None:
        raise RuntimeError("boom")

    async def on_worker_stop(self, worker: WorkerInfo) -> None:
        raise RuntimeError("boom")

    async def on_start(self, job: JobContext) -> None:
        raise RuntimeError("boom")

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        raise RuntimeError("boom")

    async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
        raise RuntimeError("boom")

    async def on_retry(self, job: JobContext, exc: Exception, delay_s: float) -> None:
        raise RuntimeError("boom")

    async def on_dead_letter(self, job: JobContext, exc: Exception) -> None:
        raise RuntimeError("boom")


FAST = Backoff(base_s=0.01, cap_s=0.01, jitter=False)


def register(app: RqStream) -> dict[str, Any]:
    @app.task(name="ok")
    async def ok(x: int) -> int:
        return x * 2

    @app.task(name="flaky", retries=2, backoff=FAST)
    async def flaky() -> str:
        job = current_job()
        if job is not None and job.attempt == 1:
            raise ValueError("first attempt fails")
        return "second time lucky"

    @app.task(name="doomed", retries=1, backoff=FAST)
    async def doomed() -> None:
        raise KeyError("never works")

    return {"ok": ok, "flaky": flaky, "doomed": doomed}


def burst(app: RqStream) -> Worker:
    return Worker(app, concurrency=5, burst=True, handle_signals=False, name="w-mw")


async def test_two_middleware_see_every_hook_in_order(make_app: Any) -> None:
    events: list[Event] = []
    seen: dict[str, Any] = {}
    app = make_app(middleware=[Recorder("A", events, seen)])
    app.add_middleware(Recorder("B", events, seen))
    tasks = register(app)
    async with app:
        ok = await tasks["ok"].enqueue(21)
        flaky = await tasks["flaky"].enqueue()
        doomed = await tasks["doomed"].enqueue()
        await burst(app).run()
        assert await ok.result(timeout_s=5) == 42
        assert await flaky.result(timeout_s=5) == "second time lucky"
        with pytest.raises(TaskFailed):
            await doomed.result(timeout_s=5)

    for name in ("A", "B"):
        mine = [(hook, key) for who, hook, key in events if who == name]
        counts = Counter(mine)
        assert counts == {
            ("before_enqueue", ok.id): 1,
            ("before_enqueue", flaky.id): 1,
            ("before_enqueue", doomed.id): 1,
            ("on_worker_start", "w-mw"): 1,
            ("on_worker_stop", "w-mw"): 1,
            ("on_start", ok.id): 1,
            ("on_success", ok.id): 1,
            ("on_start", flaky.id): 2,
            ("on_failure", flaky.id): 1,
            ("on_retry", flaky.id): 1,
            ("on_success", flaky.id): 1,
            ("on_start", doomed.id): 2,
            ("on_failure", doomed.id): 2,
            ("on_retry", doomed.id): 1,
            ("on_dead_letter", doomed.id): 1,
        }
        assert mine[3] == ("on_worker_start", "w-mw") and mine[-1] == ("on_worker_stop", "w-mw")
        per_job = [hook for hook, key in mine if key == doomed.id]
        assert per_job == ["before_enqueue", "on_start", "on_failure", "on_retry", "on_start",
                           "on_failure", "on_dead_letter"]  # fmt: skip
    # Registration order: every call of A's hook comes right before the same call of B's.
    assert [who for who, _, _ in events] == ["A", "B"] * (len(events) // 2)
    assert [e[1:] for e in events[::2]] == [e[1:] for e in events[1::2]]

    assert seen[f"A:on_success:{ok.id}"] == 42
    assert isinstance(seen[f"A:on_failure:{flaky.id}"], ValueError)
    assert seen[f"A:on_retry:{flaky.id}"] == pytest.approx(0.01)
    assert isinstance(seen[f"B:on_dead_letter:{doomed.id}"], KeyError)
    info = seen["A:on_worker_start:w-mw"]
    assert isinstance(info, WorkerInfo)
    assert (info.name, info.queues, info.concurrency, info.burst) == ("w-mw", ("default",), 5, True)


async def test_hooks_that_raise_are_logged_and_jobs_still_finish(make_app: Any) -> None:
    events: list[Event] = []
    app = make_app(middleware=[Boom(), Recorder("after", events, {})])
    tasks = register(app)
    async with app:
        with capture_logs() as logs:
            ok = await tasks["ok"].enqueue(1)
            flaky = await tasks["flaky"].enqueue()
            doomed = await tasks["doomed"].enqueue()
            await burst(app).run()
        assert await ok.result(timeout_s=5) == 2
        assert await flaky.result(timeout_s=5) == "second time lucky"
        assert await doomed.status() is JobStatus.FAILED
        assert await app.dead_letters().count() == 1

    raised = [e for e in logs if e["event"] == HOOK_RAISED]
    assert all(e["middleware"] == "Boom" and e["log_level"] == "error" for e in raised)
    assert all(e.get("exc_info") for e in raised)
    by_hook = Counter((e["hook"], e.get("job_id")) for e in raised)
    assert by_hook == {
        ("before_enqueue", ok.id): 1,
        ("before_enqueue", flaky.id): 1,
        ("before_enqueue", doomed.id): 1,
        ("on_worker_start", None): 1,
        ("on_worker_stop", None): 1,
        ("on_start", ok.id): 1,
        ("on_success", ok.id): 1,
        ("on_start", flaky.id): 2,
        ("on_failure", flaky.id): 1,
        ("on_retry", flaky.id): 1,
        ("on_success", flaky.id): 1,
        ("on_start", doomed.id): 2,
        ("on_failure", doomed.id): 2,
        ("on_retry", doomed.id): 1,
        ("on_dead_letter", doomed.id): 1,
    }
    # The middleware after the one that raised still ran every time.
    assert len(events) == sum(by_hook.values())


async def test_before_enqueue_sees_each_call_of_enqueue_many(make_app: Any) -> None:
    events: list[Event] = []
    seen: dict[str, Any] = {}
    app = make_app(middleware=[Recorder("A", events, seen)])
    ok = register(app)["ok"]
    async with app:
        jobs = await app.enqueue_many(
            [ok.call(1), ok.call(2).options(job_id="mine", queue="other", delay_s=30)]
        )
    assert [key for _, hook, key in events if hook == "before_enqueue"] == [jobs[0].id, "mine"]
    first, second = seen[f"A:before_enqueue:{jobs[0].id}"], seen["A:before_enqueue:mine"]
    assert (first.task, first.queue, first.args, dict(first.kwargs)) == ("ok", "default", (1,), {})
    assert (second.queue, second.args, second.options.delay_s) == ("other", (2,), 30)
    assert jobs[1].queue == "other"


async def test_dead_letters_written_by_the_intake_fire_on_dead_letter(
    make_app: Any, redis_url: str, prefix: str
) -> None:
    events: list[Event] = []
    seen: dict[str, Any] = {}
    producer = RqStream(redis_url, prefix=prefix)
    producer.task(name="not_on_the_worker")(lambda: None)
    app = make_app(middleware=[Recorder("A", events, seen)])
    register(app)
    async with producer, app:
        job = await producer.tasks["not_on_the_worker"].enqueue()
        await Worker(app, queues=["default"], burst=True, handle_signals=False).run()
    hooks = [hook for _, hook, key in events if key == job.id]
    assert hooks == ["on_dead_letter"]  # nothing ran: no on_start, no on_failure
    exc = seen[f"A:on_dead_letter:{job.id}"]
    assert isinstance(exc, UnknownTask)
    assert "no task named 'not_on_the_worker' is registered on this worker" in str(exc)


async def test_no_middleware_leaves_the_executor_as_it_was(app: RqStream) -> None:
    register(app)
    worker = burst(app)
    await worker.run()
    executor = worker._executor
    assert executor.call == executor._invoke
    assert executor.on_success is None and executor.failure_hooks is None


async def test_only_overridden_hooks_are_installed(make_app: Any) -> None:
    class OnlyFailures(Middleware):
        async def on_failure(self, job: JobContext, exc: Exception, duration_s: float) -> None:
            pass

    app = make_app(middleware=[OnlyFailures()])
    register(app)
    async with app:
        worker = burst(app)
        await worker.run()
    executor = worker._executor
    assert executor.call == executor._invoke  # no on_start: call not wrapped
    assert executor.on_success is None  # the success path is the same as without middleware
    assert executor.failure_hooks is not None


def test_registration_errors_say_what_to_do(make_app: Any) -> None:
    class Sync(Middleware):
        def on_start(self, job: JobContext) -> None:  # type: ignore[override]
            pass

    with pytest.raises(ConfigurationError) as info:
        make_app(middleware=[Recorder])
    assert str(info.value) == (
        "middleware must be an instance: pass Recorder(), not the class Recorder"
    )
    app = make_app()
    with pytest.raises(ConfigurationError) as info:
        app.add_middleware(Sync())
    assert str(info.value) == "Sync.on_start must be an async def (middleware hooks are awaited)"
    with pytest.raises(ConfigurationError) as info:
        app.add_middleware(object())
    assert str(info.value).startswith("middleware must subclass rq_stream.Middleware, got <object")
    assert app.middleware == []


async def test_hooks_fire_for_injected_tasks_and_see_the_lifespan_state(
    make_app: Any,
) -> None:
    """Middleware, a lifespan and Depends together: on_start runs around the injection step
    (so it fires for tasks with Depends too), the job context it gets carries the lifespan's
    state, and the worker hooks sit inside the lifespan (start after it opened, stop before it
    closed)."""
    from collections.abc import AsyncIterator

    from rq_stream import Depends, worker_state

    order: list[str] = []

    class Watch(Middleware):
        async def on_worker_start(self, worker: WorkerInfo) -> None:
            order.append("on_worker_start")

        async def on_worker_stop(self, worker: WorkerInfo) -> None:
            order.append("on_worker_stop")

        async def on_start(self, job: JobContext) -> None:
            order.append(f"on_start:{job.task.rsplit('.', 1)[-1]}:{job.state['db']}")

        async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
            order.append(f"on_success:{result}")

    app: RqStream = make_app(middleware=[Watch()])

    @app.lifespan
    async def lifespan(worker: WorkerInfo) -> AsyncIterator[dict[str, str]]:
        order.append("lifespan open")
        yield {"db": "pool"}
        order.append("lifespan closed")

    def get_db(state: dict[str, str] = Depends(worker_state)) -> str:
        return state["db"]

    @app.task
    async def injected(x: int, db: str = Depends(get_db)) -> str:
        return f"{db}{x}"

    @app.task
    async def plain(x: int) -> int:
        return x

    async with app:
        await injected.enqueue(1)
        await plain.enqueue(2)
        await Worker(app, concurrency=1, burst=True, handle_signals=False).run()
    assert order[:2] == ["lifespan open", "on_worker_start"]
    assert order[-2:] == ["on_worker_stop", "lifespan closed"]
    assert sorted(order[2:-2]) == sorted(
        ["on_start:injected:pool", "on_success:pool1", "on_start:plain:pool", "on_success:2"]
    )
