"""Concurrency per key: bad settings and bad keys get clear errors; in-process behaviour (a
key that fails at the worker dead-letters the job with the reason, never retried; slots are
freed after a job, a failure and a retry; tasks without the option touch no slot key)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from rq_stream import ConcurrencyKeyError, JobStatus, RqStream
from rq_stream.errors import ConfigurationError
from rq_stream.testing import run_until_idle


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"concurrency": 0}, "concurrency must be >= 1 (an int), got 0"),
        ({"concurrency": "2"}, "concurrency must be an int from 1 to 100000"),
        ({"concurrency": True}, "concurrency must be an int from 1 to 100000"),
        ({"concurrency": 2, "concurrency_key": "tenant"},
         "concurrency_key must be a function of the job's arguments, got 'tenant'"),
        ({"concurrency_key": lambda tenant: tenant},
         "concurrency_key needs a concurrency"),
    ],
)  # fmt: skip
async def test_bad_settings_are_refused_at_registration(
    app: RqStream, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match="invalid setting of task 'f'") as info:

        @app.task(name="f", **settings)
        async def f(tenant: str) -> None: ...

    assert message in str(info.value)
    assert "f" not in app.tasks


async def test_a_key_that_raises_or_returns_no_str_refuses_the_enqueue(app: RqStream) -> None:
    @app.task(name="by_id", concurrency=2, concurrency_key=lambda tenant, **_: tenant["id"])
    async def by_id(tenant: dict[str, Any]) -> None: ...

    @app.task(name="by_number", concurrency=2, concurrency_key=lambda n, **_: n)
    async def by_number(n: int) -> None: ...

    with pytest.raises(ConcurrencyKeyError) as info:
        await by_id.enqueue({"name": "acme"})
    assert str(info.value) == "the concurrency_key of task 'by_id' raised KeyError: 'id'"
    with pytest.raises(ConcurrencyKeyError, match=r"must return a non-empty str of at most 200 "
                       r"characters, got int 7"):  # fmt: skip
        await by_number.enqueue(7)
    with pytest.raises(ConcurrencyKeyError, match="got str ''"):
        await by_id.enqueue({"id": ""})
    assert await by_id.enqueue({"id": "acme"})  # a good key still enqueues
    assert (await run_until_idle(app)).completed == 1  # and only it was enqueued


FLAKY = {"fail": False}


async def test_a_key_failing_at_the_worker_dead_letters_the_job_unretried(app: RqStream) -> None:
    def key(tenant: str, **_: Any) -> str:
        if FLAKY["fail"]:  # the code changed between the enqueue and the run
            raise LookupError(f"no tenant {tenant!r}")
        return tenant

    @app.task(name="work", concurrency=1, concurrency_key=key, retries=3)
    async def work(tenant: str) -> str:
        return tenant

    ok, bad = await work.enqueue("acme"), await work.enqueue("gone")
    FLAKY["fail"] = True
    try:
        report = await run_until_idle(app)
    finally:
        FLAKY["fail"] = False
    assert (report.completed, report.retried, report.failed) == (0, 0, 2)
    info = await bad.info()
    assert info.status is JobStatus.FAILED and info.total_attempts == 1
    assert info.error is not None and info.error["type"] == "ConcurrencyKeyError"
    assert info.error["message"] == (
        "the concurrency_key of task 'work' raised LookupError: no tenant 'gone'"
    )
    assert (await ok.info()).status is JobStatus.FAILED


async def test_slots_are_freed_after_success_failure_and_retry(app: RqStream) -> None:
    tries: dict[str, int] = {}

    @app.task(concurrency=1, concurrency_key=lambda tenant, **_: tenant, retries=1)
    async def work(tenant: str, outcome: str) -> str:
        tries[outcome] = tries.get(outcome, 0) + 1
        if outcome == "fail" or (outcome == "retry" and tries[outcome] == 1):
            raise RuntimeError(outcome)
        return outcome

    for outcome in ("ok", "fail", "retry"):
        await work.enqueue("acme", outcome)
    report = await run_until_idle(app)
    assert (report.completed, report.failed) == (2, 1)
    assert tries == {"ok": 1, "fail": 2, "retry": 2}
    slots = app.keys.queue("default").slots(f"{work.name}:acme")
    assert await app.redis.zcard(slots) == 0


async def test_tasks_without_the_option_use_no_slot(app: RqStream) -> None:
    @app.task
    async def plain(n: int) -> int:
        return n

    await app.enqueue_many([plain.call(i) for i in range(20)])
    assert (await run_until_idle(app)).completed == 20
    assert not [k async for k in app.redis.scan_iter(match=f"{app.prefix}:*:slots:*")]


async def test_a_freed_slot_wakes_the_oldest_waiter(
    app: RqStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waiters' backoff made ten minutes: only the wake of a freed slot can run them."""
    from rq_stream.worker import keylimit

    monkeypatch.setattr(keylimit, "LISTED_WAIT_MS", 600_000)
    monkeypatch.setattr(keylimit, "MAX_WAIT_MS", 600_000)
    order: list[int] = []

    @app.task(name="serial", concurrency=1, concurrency_key=lambda tenant, **_: tenant)
    async def serial(tenant: str, n: int) -> None:
        order.append(n)
        await anyio.sleep(0.02)

    await app.enqueue_many([serial.call("acme", n) for n in range(6)])
    report = await run_until_idle(app, delayed="wait", timeout_s=30)
    assert report.completed == 6 and sorted(order) == list(range(6))
    waiting = app.keys.queue("default").slots_waiting("serial:acme")
    assert await app.redis.zcard(waiting) == 0


async def test_a_cancelled_holder_frees_its_slot(app: RqStream) -> None:
    started = anyio.Event()

    @app.task(name="long", concurrency=1, concurrency_key=lambda tenant, **_: tenant)
    async def long(tenant: str, n: int) -> int:
        if n == 0:
            started.set()
            await anyio.sleep(60)
        return n

    first, second = await long.enqueue("acme", 0), await long.enqueue("acme", 1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_until_idle, app)
        with anyio.fail_after(20):
            await started.wait()
        await first.cancel()
        assert await second.result(timeout_s=20) == 1
    assert await first.status() is JobStatus.CANCELLED
    assert await app.redis.zcard(app.keys.queue("default").slots("long:acme")) == 0


async def test_a_hold_is_renewed_with_the_lease(make_app: Any) -> None:
    """A job running three leases long keeps its slot: the next job of its key waits."""
    app: RqStream = make_app(lease_s=1.0)
    running, peak = [0], [0]

    @app.task(name="slow", concurrency=1, concurrency_key=lambda tenant, **_: tenant)
    async def slow(tenant: str, seconds: float) -> None:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await anyio.sleep(seconds)
        running[0] -= 1

    async with app:
        await app.enqueue_many([slow.call("acme", 3.0), slow.call("acme", 0.01)])
        report = await run_until_idle(app, delayed="wait", timeout_s=30)
    assert report.completed == 2 and peak == [1]
