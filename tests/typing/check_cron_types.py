"""Static typing test of cron and periodic tasks: run by mypy, never executed."""

from __future__ import annotations

from datetime import timedelta

from typing_extensions import assert_type

from rq_stream import RqStream
from rq_stream.client.schedules import ScheduleInfo
from rq_stream.client.task import Task
from rq_stream.schedules import Schedule

app = RqStream("redis://127.0.0.1:6379/0", prefix="typing")


@app.cron("*/5 * * * *", tz="Europe/Berlin")
async def tidy() -> int:
    return 1


@app.cron(every=timedelta(seconds=30), catch_up="all")
def beat() -> None:
    pass


@app.task
async def report(kind: str) -> str:
    return kind


assert_type(tidy, Task[[], int])
assert_type(beat, Task[[], None])
assert_type(app.schedule(report.call("daily"), cron="0 7 * * 1-5"), Schedule)
app.schedule(report.call("daily"), cron="0 7 * * *", catch_up="sometimes")  # type: ignore[arg-type]


async def manage() -> None:
    assert_type(await app.add_schedule(report.call("x"), every=timedelta(minutes=1)), Schedule)
    assert_type(await app.remove_schedule("x"), bool)
    assert_type(await app.list_schedules(), list[ScheduleInfo])
