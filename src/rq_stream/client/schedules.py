"""Cron and periodic tasks on the application: ``@app.cron``, ``app.schedule`` (declared in
code, stored by every worker at start-up) and ``add_schedule``/``remove_schedule``/
``list_schedules`` (in Redis at run time). Workers tick them (``worker/scheduler.py``)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, cast

from rq_stream.backends.schedules import ScheduleStore
from rq_stream.client import admin
from rq_stream.client.task import Call, Task, TaskDecorator
from rq_stream.context import Context
from rq_stream.errors import ConfigurationError
from rq_stream.schedules import CatchUp, Schedule, check_name, timing


class _App(Protocol):
    context: Context
    schedules: dict[str, Schedule]

    @property
    def tasks(self) -> dict[str, Task[Any, Any]]: ...

    def task(self, fn: Callable[..., Any], /) -> Task[Any, Any]: ...


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A stored schedule, as ``rq-stream cron list`` shows it."""

    name: str
    task: str
    queue: str
    when: str
    """The cron expression, or ``every 0:00:30``."""
    tz: str
    catch_up: CatchUp
    next_run: datetime
    last_run: datetime | None
    """The last tick enqueued (or skipped by ``catch_up``); None before the first."""


def _build(app: _App, call: Call[Any], cron: str | None, every: timedelta | None, tz: str,
           catch_up: str, name: str | None) -> Schedule:  # fmt: skip
    if not isinstance(call, Call):
        raise ConfigurationError(f"schedule a task call, like report.call('daily'), got {call!r}")
    task, o = call.task, call.job_options
    if app.tasks.get(task.name) is not task:
        raise ConfigurationError(f"task {task.name!r} is not registered on this application")
    if o.delay_s or o.at is not None or o.job_id is not None:
        raise ConfigurationError(
            "a scheduled call takes no delay_s, at or job_id: each tick's job runs at the tick "
            "and has the id cron:<schedule>:<tick ms>"
        )
    task.check_arguments(call.args, call.kwargs, ConfigurationError)
    when = timing(cron, every, tz, catch_up)
    queue = o.queue or task.settings.queue
    schedule = Schedule(check_name(name or task.name), task.name, queue, when, call.args,
                        dict(call.kwargs))  # fmt: skip
    schedule.encode()  # the arguments must be storable
    return schedule


class Scheduling:
    """The application's schedule methods (mixed into ``RqStream``)."""

    def cron(
        self: _App,
        cron: str | None = None,
        *,
        every: timedelta | None = None,
        tz: str = "UTC",
        catch_up: CatchUp = "latest",
        name: str | None = None,
    ) -> TaskDecorator:
        """Run a task that takes no arguments on a schedule: ``@app.cron("*/5 * * * *",
        tz="Europe/Berlin")`` or ``@app.cron(every=timedelta(seconds=30))``, over a plain
        function (registered as a task) or an ``@app.task`` handle."""
        timing(cron, every, tz, catch_up)  # fail at the decorator line, before the function

        def register(fn: Callable[[], Any]) -> Task[Any, Any]:
            task = fn if isinstance(fn, Task) else self.task(fn)
            required = [p.name for p in inspect.signature(task.fn).parameters.values()
                        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL,
                                                                   p.VAR_KEYWORD)]  # fmt: skip
            if required:
                raise ConfigurationError(
                    f"@app.cron task {task.name!r} must take no arguments (it has "
                    f"{', '.join(required)}): use app.schedule(task.call(...), cron=...)"
                )
            Scheduling.schedule(self, task.call(), cron=cron, every=every, tz=tz,
                                catch_up=catch_up, name=name)  # fmt: skip
            return task

        return cast(TaskDecorator, register)

    def schedule(
        self: _App,
        call: Call[Any],
        *,
        cron: str | None = None,
        every: timedelta | None = None,
        tz: str = "UTC",
        catch_up: CatchUp = "latest",
        name: str | None = None,
    ) -> Schedule:
        """Declare a schedule in code (``name`` defaults to the task's): every worker serving
        its queue stores it at start-up, so it ticks once a worker runs."""
        schedule = _build(self, call, cron, every, tz, catch_up, name)
        if schedule.name in self.schedules:
            raise ConfigurationError(
                f"a schedule named {schedule.name!r} is already declared: pass name='...'"
            )
        self.schedules[schedule.name] = schedule
        return schedule

    async def add_schedule(
        self: _App,
        call: Call[Any],
        *,
        cron: str | None = None,
        every: timedelta | None = None,
        tz: str = "UTC",
        catch_up: CatchUp = "latest",
        name: str | None = None,
    ) -> Schedule:
        """Store a schedule in Redis now (replacing one of the same name on its queue); running
        workers pick it up at once. Its first tick is the first after now."""
        schedule = _build(self, call, cron, every, tz, catch_up, name)
        await store(self.context, schedule)
        return schedule

    async def remove_schedule(self: _App, name: str) -> bool:
        """Remove a stored schedule from every queue; False if there was none. A schedule still
        declared in code comes back when a worker starts: remove it from the code too."""
        ctx, removed = self.context, False
        for queue in await admin.known_queues(ctx):
            removed |= await ScheduleStore(ctx.redis, ctx.scripts, ctx.keys.queue(queue)).remove(
                name
            )
        if removed:
            await ctx.redis.publish(ctx.keys.schedules_channel, name)
        return removed

    async def list_schedules(self: _App) -> list[ScheduleInfo]:
        """The schedules stored in Redis, with their next and last runs."""
        return await list_stored(self.context)


async def store(ctx: Context, schedule: Schedule, start_ms: int | None = None) -> bool:
    """Store ``schedule`` (a new one ticks after ``start_ms``, default now); True if it was
    new or changed (then workers are told)."""
    keys = ctx.keys
    await ctx.redis.sadd(keys.queues, schedule.queue)
    s = ScheduleStore(ctx.redis, ctx.scripts, keys.queue(schedule.queue))
    start = int(time.time() * 1000) if start_ms is None else start_ms
    changed = await s.put(schedule.name, schedule.encode(), start)
    if changed:
        await ctx.redis.publish(keys.schedules_channel, schedule.name)
    return changed


async def list_stored(ctx: Context, now_ms: int | None = None) -> list[ScheduleInfo]:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    found = []
    for queue in sorted(await admin.known_queues(ctx)):
        stored = await ScheduleStore(ctx.redis, ctx.scripts, ctx.keys.queue(queue)).load()
        for name, (definition, last_ms) in sorted(stored.items()):
            s = Schedule.decode(name, definition)
            t = s.timing
            upcoming = t.next_after(last_ms or now)
            # Before the first tick, the stored value is when the schedule was added.
            ticked = last_ms and t.next_after(last_ms - 1) == last_ms
            last = datetime.fromtimestamp(last_ms / 1000, timezone.utc) if ticked else None
            found.append(ScheduleInfo(name, s.task, queue, t.describe(), t.tz, t.catch_up,
                                      datetime.fromtimestamp(upcoming / 1000, timezone.utc),
                                      last))  # fmt: skip
    return found


__all__ = ["ScheduleInfo", "Scheduling", "list_stored", "store"]
