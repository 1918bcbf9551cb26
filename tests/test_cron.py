"""Cron and periodic tasks (issue 14, point 1 and point 8's cron cases), on a real Redis, over
both backends, with the scheduler driven by an injected clock: DST changes, catch-up policies,
racing schedulers, ticks never re-created, bad input, a schedule whose task is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from rq_stream import RqStream
from rq_stream.client.schedules import store
from rq_stream.errors import ConfigurationError
from rq_stream.schedules import Schedule, timing
from rq_stream.worker import Worker
from rq_stream.worker.scheduler import Scheduler
from tests.cluster_fixtures import LocalCluster

UNKNOWN_TZ = "unknown timezone 'Mars/Olympus': use an IANA name such as 'Europe/Berlin' or 'UTC'"
T0 = 1_800_000_000_000  # a multiple of 10 s, in ms


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


@pytest_asyncio.fixture(params=["streams", "lists"])
async def app(
    request: pytest.FixtureRequest, redis_url: str, prefix: str
) -> AsyncIterator[RqStream]:
    application = RqStream(redis_url, prefix=prefix)
    application.queue("default", backend=request.param)

    @application.task(name="report")
    def report(kind: str) -> str:
        return kind

    @application.task(name="cleanup")
    def cleanup() -> None:
        pass

    async with application:
        yield application


def scheduler(app: RqStream, clock: Clock) -> Scheduler:
    s = Worker(app, queues=["default"], handle_signals=False).scheduler
    s.clock = clock
    return s


async def tick_ids(app: RqStream, name: str) -> list[int]:
    """The ticks (ms) whose jobs exist, from the job records."""
    match = app.keys.queue("default").job(f"cron:{name}:*")
    return sorted([int(k.rsplit(b":", 1)[1]) async for k in app.redis.scan_iter(match=match)])


async def backlog(app: RqStream) -> int:
    k = app.keys.queue("default")
    if app.queue_config("default").backend == "lists":
        return int(await app.redis.llen(k.pending))
    return int(await app.redis.xlen(k.stream))


async def run_until(s: Scheduler, clock: Clock, end_ms: int) -> None:
    """What the scheduler's loop does, with the clock jumping to each wake-up time."""
    while True:
        await s.reload()
        wake = await s.tick()
        assert wake is not None and wake > clock.ms
        if wake > end_ms:
            return
        clock.ms = wake


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)  # type: ignore[misc]


async def test_a_daily_schedule_across_the_spring_dst_change(app: RqStream) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = int(datetime(2026, 3, 27, 12, tzinfo=berlin).timestamp() * 1000)
    clock = Clock(start)
    call = app.tasks["report"].call("daily")
    schedule = Schedule("daily", "report", "default", timing("30 2 * * *", None, "Europe/Berlin",
                                                              "latest"), ("daily",))  # fmt: skip
    await store(app.context, schedule, start)
    assert call.args == ("daily",)
    s = scheduler(app, clock)
    await run_until(s, clock, int(datetime(2026, 3, 31, tzinfo=berlin).timestamp() * 1000))
    # 02:30 CET, then 02:30 does not exist on the 29th (clocks jump 02:00 -> 03:00): 03:00 CEST,
    # then 02:30 CEST.
    assert await tick_ids(app, "daily") == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1),
                                            utc(2026, 3, 30, 0, 30)]  # fmt: skip
    assert s.fired == 3 and await backlog(app) == 3


async def test_the_autumn_dst_change_in_berlin_and_new_york(app: RqStream) -> None:
    hourly = Schedule("hourly", "cleanup", "default",
                      timing("0 * * * *", None, "Europe/Berlin", "latest"))  # fmt: skip
    clock = Clock(utc(2026, 10, 24, 23, 30))
    await store(app.context, hourly, clock.ms)
    s = scheduler(app, clock)
    await run_until(s, clock, utc(2026, 10, 25, 3, 30))
    # Berlin's repeated hour: 02:00 CEST and 02:00 CET are two instants, both run.
    assert await tick_ids(app, "hourly") == [utc(2026, 10, 25, h) for h in (0, 1, 2, 3)]
    assert await app.remove_schedule("hourly")

    ny = Schedule("ny", "report", "default", timing("0 7 * * 1-5", None, "America/New_York",
                                                     "latest"), ("x",))  # fmt: skip
    clock.ms = utc(2026, 10, 30)
    await store(app.context, ny, clock.ms)
    await run_until(s, clock, utc(2026, 11, 4))
    # 07:00 EDT (11:00 UTC) on Friday the 30th, Monday 2 Nov 07:00 EST (12:00 UTC), Tuesday 3rd.
    assert await tick_ids(app, "ny") == [utc(2026, 10, 30, 11), utc(2026, 11, 2, 12),
                                         utc(2026, 11, 3, 12)]  # fmt: skip


@pytest.mark.parametrize(
    ("catch_up", "at_s", "expected_s"),
    [
        ("all", 105, list(range(10, 101, 10))),
        ("latest", 105, [100]),
        ("none", 105, [100]),  # 5 s late: still on time
        ("none", 107, []),
    ],
)
async def test_catch_up_after_no_worker_ran(
    app: RqStream, catch_up: str, at_s: int, expected_s: list[int]
) -> None:
    every = timing(None, timedelta(seconds=10), "UTC", catch_up)
    await store(app.context, Schedule("s", "cleanup", "default", every), T0)
    clock = Clock(T0 + at_s * 1000)
    s = scheduler(app, clock)
    await s.reload()
    assert await s.tick() == T0 + (at_s // 10 + 1) * 10_000
    assert await tick_ids(app, "s") == [T0 + x * 1000 for x in expected_s]
    clock.ms = T0 + 110_000  # then on time again: every policy runs the next tick
    await s.reload()
    await s.tick()
    assert (await tick_ids(app, "s"))[-1] == T0 + 110_000


async def test_racing_schedulers_enqueue_each_tick_once_and_never_again(app: RqStream) -> None:
    every = timing(None, timedelta(seconds=1), "UTC", "all")
    await store(app.context, Schedule("fast", "cleanup", "default", every), T0)
    clock = Clock(T0 + 5_500)
    schedulers = [scheduler(app, clock) for _ in range(3)]
    for s in schedulers:
        await s.reload()
    for s in schedulers:
        await s.tick()
    assert await tick_ids(app, "fast") == [T0 + i * 1000 for i in range(1, 6)]
    assert sum(s.fired for s in schedulers) == 5 and await backlog(app) == 5
    # The job record of a tick expired: a scheduler that read an old last tick does not redo it.
    await app.redis.delete(app.keys.queue("default").job(f"cron:fast:{T0 + 5000}"))
    late = scheduler(app, Clock(T0 + 5_500))
    await late.reload()
    late._entries[0].last_ms = T0
    await late.tick()
    assert late.fired == 0 and await backlog(app) == 5


async def test_a_schedule_whose_task_is_gone_is_logged_once_and_others_tick(
    app: RqStream,
) -> None:
    every = timing(None, timedelta(seconds=1), "UTC", "latest")
    await store(app.context, Schedule("ghost", "gone.task", "default", every), T0)
    await store(app.context, Schedule("alive", "cleanup", "default", every), T0)
    clock = Clock(T0)
    s = scheduler(app, clock)
    with capture_logs() as logs:
        for i in range(1, 4):
            clock.ms = T0 + i * 1000
            await s.reload()
            await s.tick()
    skipped = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in skipped] == [
        "schedule 'ghost' skipped: its task 'gone.task' is not registered in this worker's app"
    ]
    assert await tick_ids(app, "ghost") == []
    assert await tick_ids(app, "alive") == [T0 + 1000, T0 + 2000, T0 + 3000]


async def test_add_list_and_remove_at_run_time(app: RqStream) -> None:
    await app.add_schedule(app.tasks["report"].call("weekly"), cron="0 7 * * 1",
                           tz="Europe/Berlin", name="weekly")  # fmt: skip
    (info,) = await app.list_schedules()
    assert (info.name, info.task, info.when, info.tz, info.catch_up, info.last_run) == (
        "weekly", "report", "0 7 * * 1", "Europe/Berlin", "latest", None)  # fmt: skip
    assert info.next_run.astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %H:%M") == "Mon 07:00"
    assert await app.remove_schedule("weekly") is True
    assert await app.remove_schedule("weekly") is False
    assert await app.list_schedules() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "61 * * * *"}, "malformed cron expression '61 * * * *': Bad minute"),
        ({"cron": "* * *"}, "malformed cron expression '* * *': Wrong number of fields"),
        ({"cron": "* * * * *", "tz": "Mars/Olympus"}, UNKNOWN_TZ),
        ({}, "a schedule needs exactly one of cron='...' (e.g. '*/5 * * * *') or every="),
        ({"cron": "* * * * *", "every": timedelta(seconds=5)}, "a schedule needs exactly one"),
        ({"every": timedelta(milliseconds=1500)}, "every must be a whole number of seconds"),
        ({"cron": "* * * * *", "catch_up": "some"}, "catch_up must be 'latest', 'all' or 'none'"),
    ],
)
def test_bad_schedules_are_refused_with_the_reason(
    make_app: object, kwargs: dict[str, object], message: str
) -> None:
    app = RqStream(prefix="bad")

    @app.task
    def report(kind: str) -> None:
        pass

    with pytest.raises(ConfigurationError) as caught:
        app.schedule(report.call("x"), **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    with pytest.raises(ConfigurationError) as again:
        app.cron(**kwargs)  # type: ignore[arg-type]
    assert str(again.value) == str(caught.value)
    assert app.schedules == {}


def test_cron_tasks_take_no_arguments_and_names_are_unique() -> None:
    app = RqStream(prefix="bad")
    takes = r"@app.cron task '.*needs' must take no arguments \(it has kind\): use app.schedule"
    with pytest.raises(ConfigurationError, match=takes):

        @app.cron("* * * * *")
        def needs(kind: str) -> None:
            pass

    @app.cron("* * * * *", name="tidy")
    def tidy() -> None:
        pass

    with pytest.raises(ConfigurationError, match="a schedule named 'tidy' is already declared"):
        app.schedule(tidy.call(), every=timedelta(seconds=5), name="tidy")
    with pytest.raises(ConfigurationError, match="takes no delay_s, at or job_id"):
        app.schedule(tidy.options(delay_s=5).call(), every=timedelta(seconds=5), name="other")
    with pytest.raises(ConfigurationError, match="arguments"):
        app.schedule(tidy.call(1), every=timedelta(seconds=5), name="other")  # type: ignore[call-arg]
    assert list(app.schedules) == ["tidy"]


async def test_a_running_worker_picks_up_an_added_schedule_at_once(app: RqStream) -> None:
    """Told by pub/sub: well before the scheduler's periodic re-read (RELOAD_S)."""
    import anyio

    from rq_stream.worker.scheduler import RELOAD_S

    worker = Worker(app, queues=["default"], handle_signals=False, concurrency=2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        while worker.scheduler.stores and not await app.redis.exists(app.keys.workers):
            await anyio.sleep(0.05)
        await anyio.sleep(0.5)  # the worker is past its first (empty) pass, sleeping
        await app.add_schedule(app.tasks["cleanup"].call(), every=timedelta(seconds=1),
                               name="added")  # fmt: skip
        with anyio.fail_after(RELOAD_S / 3):
            while not await tick_ids(app, "added"):
                await anyio.sleep(0.05)
        assert await app.remove_schedule("added")
        worker.request_stop()
    assert worker.scheduler.fired >= 1


@pytest.mark.slow
async def test_schedules_tick_on_a_redis_cluster(redis_cluster: LocalCluster, prefix: str) -> None:
    """A schedule lives in its queue's slot: the tick script (schedules, ticks, backlog, job
    record) is single-slot on every queue, whichever node holds it."""
    app = RqStream(redis_cluster.url, prefix=prefix)
    queues = ["alpha", "beta", "gamma", "delta"]
    for i, q in enumerate(queues):
        app.queue(q, backend="lists" if i % 2 else "streams")

    @app.task(name="job")
    def job(q: str) -> str:
        return q

    clock = Clock(T0)
    async with app:
        for q in queues:
            s = Schedule(f"s-{q}", "job", q, timing(None, timedelta(seconds=1), "UTC", "all"),
                         (q,))  # fmt: skip
            await store(app.context, s, T0)
        s = Worker(app, queues=queues, handle_signals=False).scheduler
        s.clock = clock
        clock.ms = T0 + 3000
        await s.reload()
        assert await s.tick() == T0 + 4000
        assert s.fired == 3 * len(queues)
        assert {i.name: i.last_run for i in await app.list_schedules()} == {
            f"s-{q}": datetime.fromtimestamp((T0 + 3000) / 1000, timezone.utc) for q in queues
        }
        assert await app.remove_schedule("s-beta")


async def test_run_until_idle_and_burst_workers_leave_schedules_alone(app: RqStream) -> None:
    from rq_stream.testing import run_until_idle

    @app.cron(every=timedelta(seconds=1), name="beat")
    def beat() -> None:
        pass

    await app.tasks["report"].enqueue("now")
    report = await run_until_idle(app)
    assert report.completed == 1
    await Worker(app, burst=True, handle_signals=False).run()
    assert await app.list_schedules() == [] and await tick_ids(app, "beat") == []
