"""The project's own examples tested the way a user tests their tasks: only the public kit
(``rq_stream.testing``: the pytest plugin's fixtures, ``bind``, ``run_until_idle``), with the
examples' module-level apps bound to the plugin's throwaway redis-server."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal

import anyio
import pytest
from workers import example, patterns_example, quickstart, wsgi_example

from rq_stream import Backoff, JobStatus, RqStream, current_job
from rq_stream.errors import ConfigurationError
from rq_stream.testing import JobsFailed, bind, run_until_idle
from rq_stream.testing.pytest_plugin import Binder

# A user's own module-level app, as in their code.
app = RqStream("redis://127.0.0.1:1/0", prefix="mine")
app.queue("listed", backend="lists")


@app.task(retries=2)
async def nap(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "rested"


@app.task(retries=2, backoff=Backoff(base_s=600, cap_s=600))
async def flaky() -> int:
    job = current_job()
    assert job is not None
    if job.attempt < 3:
        raise ConnectionError(f"attempt {job.attempt}: try again")
    return job.attempt


@pytest.fixture
async def example_app(rq_bind: Binder) -> AsyncIterator[RqStream]:
    async with rq_bind(example.app) as bound:
        yield bound


# The README's "Testing your tasks" example, as written there.
@pytest.fixture
async def tasks_app(rq_bind: Binder) -> AsyncIterator[RqStream]:
    async with rq_bind(wsgi_example.app) as bound:
        yield bound


async def test_welcome_mail(tasks_app: RqStream) -> None:
    job = await wsgi_example.send_welcome.enqueue("ada@example.com")
    report = await run_until_idle(tasks_app, raise_on_failure=True)
    assert await job.result() == "welcome mail sent to ada@example.com"
    assert (report.completed, report.failed) == (1, 0)


async def test_quickstart(rq_bind: Binder) -> None:
    async with rq_bind(quickstart.app) as bound:
        job = await quickstart.add.enqueue(1, 2)
        report = await run_until_idle(bound, raise_on_failure=True)
        assert await job.result(timeout_s=5) == 3
    assert (report.completed, report.failed, report.scheduled) == (1, 0, 0)


async def test_example_tasks_run_to_completion(example_app: RqStream) -> None:
    random.seed(7)  # send_email fails ~5% of attempts at random; its retries run at once
    emails = [await example.send_email.enqueue(f"u{i}@example.com", "hi") for i in range(10)]
    thumb = await example.thumbnail.enqueue(3, width=64)
    paid = await example.charge.enqueue(1, Decimal("9.50"))
    report = await run_until_idle(example_app, raise_on_failure=True)
    assert [(await j.result())["to"] for j in emails] == [f"u{i}@example.com" for i in range(10)]
    assert (await thumb.result()).startswith("thumb-3-64-")
    assert await paid.result() == "charged order 1: 9.50"
    assert report.completed == 12 and report.failed == 0


async def test_a_dead_lettered_job_fails_the_run_when_asked(example_app: RqStream) -> None:
    await example.charge.enqueue(7, Decimal("0"))  # ValueError: not retried, dead-lettered
    with pytest.raises(JobsFailed) as caught:
        await run_until_idle(example_app, raise_on_failure=True)
    assert str(caught.value) == (
        "1 job(s) failed for good (dead-lettered): "
        f"{example.charge.name}({caught.value.report.dead_letters[0].job_id}): "
        "ValueError: order 7: amount must be positive, got 0"
    )
    report = caught.value.report
    assert (report.completed, report.failed) == (0, 1)
    assert report.dead_letters[0].args == [7, Decimal("0")]


async def test_without_raise_on_failure_the_report_counts_failures(example_app: RqStream) -> None:
    ok = await example.add.enqueue(2, 2)
    await example.charge.enqueue(8, Decimal("-1"))
    report = await run_until_idle(example_app)
    assert (report.completed, report.failed) == (1, 1)
    assert await ok.result() == 4


async def test_delayed_jobs_left_then_run_now(example_app: RqStream) -> None:
    later = await example.add.options(delay_s=3600).enqueue(1, 1)
    now = await example.add.enqueue(3, 3)
    left = await run_until_idle(example_app, delayed="leave")
    assert (left.completed, left.scheduled) == (1, 1)
    assert await now.result() == 6
    assert await later.status() == JobStatus.SCHEDULED
    ran = await run_until_idle(example_app)  # delayed="now", the default: ignores the delay
    assert (ran.completed, ran.scheduled) == (1, 0)
    assert await later.result() == 2


async def test_delayed_jobs_waited_for(example_app: RqStream) -> None:
    soon = await example.add.options(delay_s=0.3).enqueue(2, 2)
    report = await run_until_idle(example_app, delayed="wait", timeout_s=30)
    assert (report.completed, report.scheduled) == (1, 0)
    assert await soon.result() == 4


async def test_retries_run_at_once_in_the_default_mode(rq_bind: Binder) -> None:
    async with rq_bind(app) as bound:
        job = await flaky.enqueue()
        report = await run_until_idle(bound, raise_on_failure=True)  # no 10-minute backoffs
        assert await job.result() == 3
    assert (report.completed, report.retried, report.failed) == (1, 2, 0)


async def test_delays_and_retries_on_a_lists_queue(rq_bind: Binder) -> None:
    async with rq_bind(app) as bound:
        job = await flaky.options(queue="listed", delay_s=3600).enqueue()
        report = await run_until_idle(bound, queues=["listed"])
        assert await job.result() == 3
    assert (report.completed, report.retried, report.scheduled) == (1, 2, 0)


async def test_retried_and_deferred_examples_complete(rq_bind: Binder) -> None:
    async with rq_bind(example.app) as bound:
        random.seed(1)
        jobs = [await example.charge.enqueue(i, Decimal("1")) for i in range(60)]
        report = await run_until_idle(bound, raise_on_failure=True)  # Retry(delay_s=0.2) ~3%
        assert [await j.result() for j in jobs] == [f"charged order {i}: 1" for i in range(60)]
    assert report.completed == 60


async def test_patterns_example(rq_bind: Binder) -> None:
    p = patterns_example
    async with rq_bind(p.app) as bound:
        assert (await p.get_user(42))["name"] == "Ada"
        await p.update_user(42, plan="team")
        assert (await p.get_user(42))["plan"] == "team"
        unique = {(await p.reindex.enqueue("products")).id for _ in range(3)}
        sent = await bound.enqueue_many([p.call_partner_api.call("acme", n) for n in range(25)])
        reports = [await p.nightly_report.enqueue("2024-05-01") for _ in range(3)]
        result = await run_until_idle(bound, raise_on_failure=True)  # 20/s: a second's wait
        assert len(unique) == 1
        assert {await j.result() for j in sent} == {f"acme: order {n} sent" for n in range(25)}
        assert {await j.result() for j in reports} == {"report 2024-05-01 built"}
    assert result.completed == 25 + 3 + 1


async def test_a_run_still_busy_after_its_timeout_raises(rq_bind: Binder) -> None:
    async with rq_bind(app) as bound:
        await nap.enqueue(30)
        with pytest.raises(TimeoutError) as caught:
            await run_until_idle(bound, timeout_s=0.3)
    assert str(caught.value) == (
        "run_until_idle: the queues ['default'] were still busy after 0.3 s"
    )


async def test_bind_uses_a_fresh_prefix_and_restores_the_app(rq_redis_url: str) -> None:
    async with bind(app, rq_redis_url) as bound:
        assert bound is app and app.url == rq_redis_url and app.prefix.startswith("test-")
        job = await nap.enqueue(0)
        await run_until_idle(app)
        assert await job.result() == "rested"
    assert (app.url, app.prefix) == ("redis://127.0.0.1:1/0", "mine")
    assert not app.context.connected


async def test_bind_refuses_an_app_that_holds_clients(rq_redis_url: str) -> None:
    async with bind(app, rq_redis_url):
        with pytest.raises(ConfigurationError) as caught:
            async with bind(app, rq_redis_url):
                pass
    assert str(caught.value).startswith("bind(): the app already holds clients for ")
    assert str(caught.value).endswith(
        ": await app.close() where it was used (each test's event loop needs its own)"
    )


def test_the_plugin_fixtures_need_no_event_loop(rq_redis_url: str, rq_prefix: str) -> None:
    assert rq_redis_url.startswith("redis://127.0.0.1:")
    assert rq_prefix.startswith("test-") and len(rq_prefix) == 17
