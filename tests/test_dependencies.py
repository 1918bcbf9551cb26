"""``Depends``: providers of every kind, their cleanups, caching per job and per worker, nesting,
the job context, failures through the retry policy, and what enqueue refuses (in-process
workers on the real redis-server)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from rq_stream import (
    Backoff,
    Depends,
    EnqueueError,
    JobContext,
    RqStream,
    TaskFailed,
    Worker,
    current_job,
)
from rq_stream.errors import ConfigurationError


def one() -> int:
    return 1


def crunch(n: int, v: int = Depends(one)) -> None:
    """At the top level, as ``process=True`` wants."""


def burst(app: RqStream, **kw: Any) -> Worker:
    return Worker(app, concurrency=kw.pop("concurrency", 4), burst=True, handle_signals=False, **kw)


async def test_every_provider_kind_is_injected_and_cleaned_up_after_the_job(app: RqStream) -> None:
    events: list[str] = []

    def plain() -> int:
        return 1

    async def awaited() -> int:
        return 2

    def gen() -> Iterator[int]:
        events.append("gen open")
        yield 3
        events.append("gen close")

    async def agen() -> AsyncIterator[int]:
        events.append("agen open")
        yield 4
        events.append("agen close")

    @app.task(result_ttl_s=60)
    async def total(
        x: int,
        a: int = Depends(plain),
        b: int = Depends(awaited),
        c: int = Depends(gen),
        d: int = Depends(agen),
    ) -> int:
        events.append("task")
        return x + a + b + c + d

    job = await total.enqueue(10)
    await burst(app).run()
    assert await job.result(timeout_s=5) == 20
    # Last opened, first closed; both after the task.
    assert events == ["gen open", "agen open", "task", "agen close", "gen close"]


async def test_cleanups_run_and_see_the_error_when_the_task_fails(app: RqStream) -> None:
    seen: list[str] = []

    async def conn() -> AsyncIterator[str]:
        try:
            yield "conn"
        except ValueError as exc:
            seen.append(f"rollback after {exc}")
            raise
        else:
            seen.append("commit")

    def swallowing() -> Iterator[str]:
        try:
            yield "x"
        except Exception:
            seen.append("swallowed")  # a generator cannot hide the job's failure

    @app.task(result_ttl_s=60)
    async def boom(c: str = Depends(conn), s: str = Depends(swallowing)) -> None:
        raise ValueError("card declined")

    job = await boom.enqueue()
    await burst(app).run()
    with pytest.raises(TaskFailed, match="ValueError: card declined"):
        await job.result(timeout_s=5)
    assert seen == ["swallowed", "rollback after card declined"]


async def test_sync_task_runs_in_a_thread_with_providers_resolved_on_the_loop(
    app: RqStream,
) -> None:
    threads: dict[str, int] = {}

    async def loop_side() -> str:
        threads["provider"] = threading.get_ident()
        return "value"

    @app.task(result_ttl_s=60)
    def blocking(n: int, v: str = Depends(loop_side)) -> str:
        threads["task"] = threading.get_ident()
        job = current_job()
        assert job is not None
        return f"{v}-{n}-{job.attempt}"

    job = await blocking.enqueue(3)
    await burst(app).run()
    assert await job.result(timeout_s=5) == "value-3-1"
    assert threads["provider"] == threading.get_ident()  # the test's loop is the worker's
    assert threads["task"] != threads["provider"]


async def test_nested_providers_resolve_once_per_job_and_see_the_job(app: RqStream) -> None:
    calls: list[str] = []

    def settings() -> dict[str, str]:
        calls.append("settings")
        return {"dsn": "db://x"}

    def db(job: JobContext, conf: dict[str, str] = Depends(settings)) -> str:
        calls.append("db")
        return f"{conf['dsn']}#{job.job_id}"

    def repo(conn: str = Depends(db), conf: dict[str, str] = Depends(settings)) -> str:
        calls.append("repo")
        return f"repo({conn})"

    @app.task(result_ttl_s=60)
    async def handle(
        r: str = Depends(repo),
        conn: str = Depends(db),
        ctx: JobContext | None = Depends(current_job),
    ) -> list[str]:
        assert ctx is not None
        return [r, conn, ctx.job_id]

    first, second = await handle.enqueue(), await handle.enqueue()
    await burst(app, concurrency=1).run()
    for job in (first, second):
        assert await job.result(timeout_s=5) == [
            f"repo(db://x#{job.id})",
            f"db://x#{job.id}",
            job.id,
        ]
    assert calls == ["settings", "db", "repo"] * 2  # each once per job, however often used


async def test_worker_scoped_provider_is_made_once_and_cleaned_up_at_stop(
    app: RqStream,
) -> None:
    events: list[str] = []

    async def client() -> AsyncIterator[str]:
        events.append("client open")
        await anyio.sleep(0.05)  # concurrent first uses wait for this one
        yield "client"
        events.append("client close")

    def per_job(c: str = Depends(client, scope="worker")) -> str:
        events.append("per job")
        return c

    @app.task(result_ttl_s=60)
    async def use(
        i: int, c: str = Depends(client, scope="worker"), p: str = Depends(per_job)
    ) -> str:
        return f"{c}{i}{p}"

    jobs = [await use.enqueue(i) for i in range(6)]
    await burst(app, concurrency=6).run()
    assert [await j.result(timeout_s=5) for j in jobs] == [f"client{i}client" for i in range(6)]
    assert events.count("client open") == 1
    assert events.count("per job") == 6
    assert events[-1] == "client close"


async def test_a_raising_provider_is_retried_then_dead_lettered(app: RqStream) -> None:
    attempts: list[int] = []

    async def flaky(job: JobContext) -> str:
        attempts.append(job.attempt)
        raise ConnectionError(f"pool exhausted on attempt {job.attempt}")

    ran: list[str] = []

    @app.task(retries=1, backoff=Backoff(base_s=0.01, jitter=False), result_ttl_s=60)
    async def charge(order_id: int, db: str = Depends(flaky)) -> None:
        ran.append(db)

    job = await charge.enqueue(7)
    await burst(app, delayed_max_sleep_s=0.02).run()
    assert attempts == [1, 2]
    assert ran == []
    (letter,) = await app.dead_letters().list()
    assert letter.job_id == job.id
    assert (letter.exc_type, letter.message) == ("ConnectionError", "pool exhausted on attempt 2")
    assert "in flaky" in letter.traceback
    assert "pool exhausted" in letter.traceback


async def test_a_cleanup_that_fails_after_success_fails_the_job(app: RqStream) -> None:
    async def tx() -> AsyncIterator[None]:
        yield None
        raise RuntimeError("commit failed")

    @app.task(result_ttl_s=60)
    async def write(t: None = Depends(tx)) -> str:
        return "written"

    job = await write.enqueue()
    await burst(app).run()
    with pytest.raises(TaskFailed, match="RuntimeError: commit failed"):
        await job.result(timeout_s=5)


async def test_cleanup_runs_when_the_job_times_out_or_is_cancelled_at_stop(
    app: RqStream,
) -> None:
    outcomes: list[str] = []

    async def resource() -> AsyncIterator[None]:
        try:
            yield None
        except BaseException as exc:
            await anyio.sleep(0.01)  # shielded: the cleanup's own awaits are not cancelled
            outcomes.append(type(exc).__name__)
            raise

    @app.task(timeout_s=0.1, result_ttl_s=60)
    async def too_slow(r: None = Depends(resource)) -> None:
        await anyio.sleep(10)

    @app.task(queue="forever")
    async def hangs(r: None = Depends(resource)) -> None:
        await anyio.sleep(60)

    await too_slow.enqueue()
    await burst(app, queues=["default"]).run()
    assert outcomes == ["TaskTimeout"]

    await hangs.enqueue()
    worker = Worker(app, queues=["forever"], handle_signals=False, grace_s=0.1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        while worker.in_flight == 0:
            await anyio.sleep(0.01)
        worker.request_stop()
    assert outcomes[1] in ("CancelledError", "Cancelled")
    assert worker.stats.handed_back == 1


async def test_a_value_for_an_injected_parameter_is_refused_at_enqueue(app: RqStream) -> None:
    def get_db() -> str:
        return "db"

    @app.task
    async def charge(order_id: int, db: str = Depends(get_db)) -> None: ...

    name = charge.name
    expected = (
        f"task {name!r}: 'db' is injected by the worker (Depends({get_db.__qualname__})), not an "
        "argument: do not pass a value for it"
    )
    with pytest.raises(EnqueueError) as by_position:
        await charge.enqueue(5, "mine")
    assert str(by_position.value) == expected
    with pytest.raises(EnqueueError) as by_keyword:
        await charge.enqueue(5, db="mine")
    assert str(by_keyword.value) == expected
    with pytest.raises(EnqueueError, match="'db' is injected by the worker"):
        await app.enqueue_by_name(name, [5], {"db": "mine"})
    with pytest.raises(EnqueueError, match="arguments do not fit"):
        await charge.enqueue()  # type: ignore[call-arg]
    assert (await charge.enqueue(5)).id  # the payload is just the order id


def test_registration_refuses_what_cannot_be_injected(app: RqStream) -> None:
    def needs_x(x: int) -> int:
        return x

    with pytest.raises(ConfigurationError, match=r"provider .*needs_x: parameter 'x' has no value"):

        @app.task
        async def a(v: int = Depends(needs_x)) -> None: ...

    def per_job() -> int:
        return 1

    def cached(v: int = Depends(per_job)) -> int:
        return v

    with pytest.raises(ConfigurationError, match=r"cached per worker .* depends on .*per_job"):

        @app.task
        async def b(v: int = Depends(cached, scope="worker")) -> None: ...

    def with_job(job: JobContext) -> int:
        return 1

    with pytest.raises(ConfigurationError, match=r"cached per worker .* takes the job"):

        @app.task
        async def c(v: int = Depends(with_job, scope="worker")) -> None: ...

    with pytest.raises(ConfigurationError, match="process=True cannot take injected parameters"):
        app.task(process=True)(crunch)

    with pytest.raises(ConfigurationError, match="scope=...\\) is 'job' or 'worker'"):
        Depends(per_job, scope="process")  # type: ignore[call-overload]
    assert not app.tasks


def test_positional_arguments_never_land_on_an_injected_parameter(app: RqStream) -> None:
    @app.task
    async def between(a: int, db: int = Depends(one), b: int = 0, *, c: int = Depends(one)) -> None:
        return None

    between.check_arguments((1,), {"b": 2})
    between.check_arguments((1,), {})
    with pytest.raises(EnqueueError, match="'db' is injected by the worker"):
        between.check_arguments((1, 2), {})  # 2 would be db, not b
    with pytest.raises(EnqueueError, match="'c' is injected by the worker"):
        between.check_arguments((1,), {"c": 3})
    assert list(between.injected) == ["db", "c"]

    @app.task
    async def plain(a: int, b: int = 0) -> None:
        return None

    assert plain.injected == {}
    assert plain.fits((1,), {}) and plain.fits((1, 2), {})
