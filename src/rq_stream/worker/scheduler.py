"""The scheduler every worker process runs beside its delayed movers (no leader): it reads the
schedules of the worker's queues, enqueues the jobs of the ticks that are due (each through
``cron_tick.lua``: the tick's job has a deterministic id and the schedule's last tick only moves
forward, in one script, so however many workers race, a tick's job is enqueued once), and
sleeps until the next tick, or until a schedule is added or removed (pub/sub).

Cost when no queue has a schedule: the subscription, and one read of the schedule hashes per
queue every ``RELOAD_S`` (a schedule added while the pub/sub connection was down is still
seen); nothing per job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rq_stream.backends.base import NewJob
from rq_stream.backends.schedules import BEHIND, CHANGED, ScheduleStore
from rq_stream.client.task import Task
from rq_stream.connect.notify import Channels
from rq_stream.errors import RqStreamError
from rq_stream.payloads import Payloads
from rq_stream.schedules import Schedule
from rq_stream.worker.resilience import Outage

RELOAD_S = 30.0
"""The longest the scheduler sleeps without re-reading the schedules."""


@dataclass(slots=True)
class _Entry:
    queue: str
    schedule: Schedule
    definition: bytes
    last_ms: int


class Scheduler:
    """Ticks the schedules stored for ``stores``' queues. ``clock`` (seconds since the epoch,
    ``time.time`` by default) decides which ticks are due: tests pass their own."""

    def __init__(
        self,
        stores: Mapping[str, ScheduleStore],
        tasks: Mapping[str, Task[Any, Any]],
        payloads: Payloads,
        log: Any,
        *,
        max_payload_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stores = stores
        self._tasks = tasks
        self._payloads = payloads
        self._max_bytes = max_payload_bytes
        self._log = log
        self.clock = clock
        self._entries: list[_Entry] = []
        self._skipped: set[tuple[str, str]] = set()
        """(schedule, problem) pairs already logged: each is logged once."""
        self.fired = 0
        """Tick jobs this scheduler enqueued (others' are not counted)."""

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def reload(self) -> None:
        entries = []
        for queue, store in self.stores.items():
            for name, (definition, last_ms) in (await store.load()).items():
                try:
                    schedule = Schedule.decode(name, definition)
                except (ValueError, KeyError, TypeError) as exc:
                    self._skip(name, f"its definition cannot be read ({exc})")
                    continue
                entries.append(_Entry(queue, schedule, definition, last_ms))
        self._entries = entries

    async def tick(self, now_ms: int | None = None) -> int | None:
        """Enqueue what is due at ``now_ms`` (default: the clock's now) for the schedules read
        last; the next tick's time in ms, or None if no schedule can run."""
        now = self.now_ms() if now_ms is None else now_ms
        soonest: int | None = None
        for entry in self._entries:
            if not self._runnable(entry.schedule):
                continue
            if not entry.last_ms:  # no last tick stored: it starts now
                entry.last_ms = now
            ticks, advance = entry.schedule.timing.due(entry.last_ms, now)
            if advance and await self._fire(entry, ticks, advance, now) == CHANGED:
                continue
            upcoming = entry.schedule.timing.next_after(entry.last_ms)
            soonest = upcoming if soonest is None else min(soonest, upcoming)
        return soonest

    async def _fire(self, entry: _Entry, ticks: list[int], advance: int, now: int) -> int:
        store, s = self.stores[entry.queue], entry.schedule
        reply = BEHIND
        if not ticks:  # skipped by catch_up="none": advance only
            reply = await store.fire(s.name, entry.definition, advance, None)
        for tick in ticks:
            try:
                job = self._job(s, tick, now)
            except RqStreamError as exc:  # e.g. the app's serializer refuses the arguments
                self._skip(s.name, f"its job cannot be encoded: {exc}")
                return CHANGED
            reply = await store.fire(s.name, entry.definition, tick, job)
            if reply == CHANGED:
                return reply
            if reply != BEHIND and tick > entry.last_ms:
                self.fired += 1
                self._log.debug("schedule ticked", schedule=s.name, tick_ms=tick, task=s.task)
        entry.last_ms = max(entry.last_ms, advance)
        return reply

    def _job(self, s: Schedule, tick_ms: int, now_ms: int) -> NewJob:
        job_id = s.job_id(tick_ms)
        payload = self._payloads.encode_job(
            job_id, s.task, s.args, s.kwargs, now_ms, None, self._max_bytes
        )
        return NewJob(job_id, s.task, payload)

    def _runnable(self, s: Schedule) -> bool:
        task = self._tasks.get(s.task)
        if task is None:
            self._skip(s.name, f"its task {s.task!r} is not registered in this worker's app")
            return False
        try:
            task.check_arguments(s.args, s.kwargs)
        except Exception as exc:
            self._skip(s.name, f"its arguments no longer fit task {s.task!r}: {exc}")
            return False
        return True

    def _skip(self, name: str, problem: str) -> None:
        if (name, problem) not in self._skipped:
            self._skipped.add((name, problem))
            self._log.error(f"schedule {name!r} skipped: {problem}", schedule=name)

    async def run(self, channels: Channels, channel: str) -> None:
        """Tick forever: after each pass, sleep until the next tick (at most ``RELOAD_S``) or
        until a schedule changes, then re-read the schedules."""
        outage = Outage("scheduling")
        while True:
            try:
                async with channels.listen(channel) as changes:
                    while True:
                        await self.reload()
                        wake_ms = await self.tick()
                        outage.recovered()
                        wait_s = RELOAD_S
                        if wake_ms is not None:  # 1 ms late rather than early
                            wait_s = min(wait_s, (wake_ms - self.now_ms() + 1) / 1000)
                        await changes.next(wait_s)
            except outage.errors as exc:
                await outage.failed(exc)


__all__ = ["RELOAD_S", "Scheduler"]
