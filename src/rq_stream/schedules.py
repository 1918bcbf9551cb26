"""Schedules: what a periodic job runs (a task and its arguments) and when (a cron expression
in a timezone, parsed by ``cronsim``, or a fixed interval), and what becomes of the ticks
missed while no worker ran (``catch_up``).

A tick is an instant in ms since the epoch, the same for every worker: cron ticks come from
the expression in its timezone (DST as in Debian's cron: a time skipped by the spring change
runs at the first instant after it, a repeated hour runs once), interval ticks are the
multiples of the interval since the epoch. The job of a tick has the id
``cron:<schedule>:<tick ms>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from rq_stream import codec
from rq_stream.errors import ConfigurationError

CatchUp = Literal["latest", "all", "none"]
"""Ticks missed while no worker ran: ``"latest"`` runs the newest one, ``"all"`` runs each,
``"none"`` runs none (only a tick at most ``ON_TIME_MS`` old runs)."""

ON_TIME_MS = 5000
"""With ``catch_up="none"``, a tick this late still runs (a worker busy or just restarted)."""

MAX_CATCH_UP = 100
"""With ``catch_up="all"``, at most this many ticks are enqueued per pass (the next pass
follows at once): a long outage of a fast schedule does not make one huge script."""

MIN_EVERY_MS = 1000


@dataclass(frozen=True, slots=True)
class Timing:
    """When a schedule ticks: ``cron`` in ``tz``, or every ``every_ms``."""

    cron: str | None
    every_ms: int | None
    tz: str
    catch_up: CatchUp

    def describe(self) -> str:
        if self.cron is not None:
            return self.cron
        return f"every {timedelta(milliseconds=self.every_ms or 0)}"

    def next_after(self, after_ms: int) -> int:
        """The first tick strictly after ``after_ms``."""
        if self.every_ms is not None:
            return (after_ms // self.every_ms + 1) * self.every_ms
        return next(t for t in self._cron(after_ms, False) if t > after_ms)

    def latest_at(self, now_ms: int) -> int:
        """The last tick at or before ``now_ms``."""
        if self.every_ms is not None:
            return now_ms - now_ms % self.every_ms
        return next(t for t in self._cron(now_ms + 1, True) if t <= now_ms)

    def _cron(self, start_ms: int, reverse: bool) -> Iterator[int]:
        assert self.cron is not None
        start = datetime.fromtimestamp(start_ms / 1000, ZoneInfo(self.tz))
        # cronsim may answer an instant on the wrong side of ``start`` in a repeated hour:
        # the callers skip those.
        for tick in CronSim(self.cron, start, reverse=reverse):
            yield int(tick.timestamp() * 1000)

    def due(self, last_ms: int, now_ms: int) -> tuple[list[int], int]:
        """The ticks to enqueue now, after ``last_ms`` (the last one enqueued or skipped), and
        the tick the schedule advances to (0: none is due)."""
        if self.next_after(last_ms) > now_ms:
            return [], 0
        if self.catch_up == "all":
            ticks: list[int] = []
            tick = last_ms
            while len(ticks) < MAX_CATCH_UP and (tick := self.next_after(tick)) <= now_ms:
                ticks.append(tick)
            return ticks, ticks[-1]
        latest = self.latest_at(now_ms)
        if self.catch_up == "none" and now_ms - latest > ON_TIME_MS:
            return [], latest
        return [latest], latest


def timing(cron: str | None, every: timedelta | None, tz: str, catch_up: str) -> Timing:
    """Check a schedule's timing (raises :class:`ConfigurationError` with the reason)."""
    if (cron is None) == (every is None):
        raise ConfigurationError(
            "a schedule needs exactly one of cron='...' (e.g. '*/5 * * * *') or "
            "every=timedelta(...)"
        )
    if catch_up not in get_args(CatchUp):
        raise ConfigurationError(f"catch_up must be 'latest', 'all' or 'none', got {catch_up!r}")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigurationError(
            f"unknown timezone {tz!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    every_ms = None
    if every is not None:
        if not isinstance(every, timedelta):
            raise ConfigurationError(f"every must be a timedelta, got {every!r}")
        every_ms = every // timedelta(milliseconds=1)
        if every_ms < MIN_EVERY_MS or every_ms % 1000:
            raise ConfigurationError(
                f"every must be a whole number of seconds, at least 1, got {every!r}"
            )
    elif not isinstance(cron, str):
        raise ConfigurationError(f"cron must be a str, got {cron!r}")
    else:
        try:
            CronSim(cron, datetime.now(zone))
        except (CronSimError, ValueError) as exc:
            raise ConfigurationError(
                f"malformed cron expression {cron!r}: {exc} (five fields: minute hour "
                "day-of-month month day-of-week, or six with the seconds first)"
            ) from None
    return Timing(cron, every_ms, tz, catch_up)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A named schedule: the task ``task`` (on ``queue``) called with ``args``/``kwargs`` at
    each tick of ``timing``."""

    name: str
    task: str
    queue: str
    timing: Timing
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def job_id(self, tick_ms: int) -> str:
        return f"cron:{self.name}:{tick_ms}"

    def encode(self) -> bytes:
        """The definition stored in Redis (msgpack: the arguments must be msgpack types)."""
        t = self.timing
        try:
            return codec.dumps({"task": self.task, "queue": self.queue, "args": list(self.args),
                                "kwargs": self.kwargs, "cron": t.cron, "every_ms": t.every_ms,
                                "tz": t.tz, "catch_up": t.catch_up})  # fmt: skip
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigurationError(
                f"schedule {self.name!r}: its arguments must be plain data (msgpack types, "
                f"datetime, UUID, Decimal): {exc}"
            ) from None

    @classmethod
    def decode(cls, name: str, blob: bytes) -> Schedule:
        d = codec.loads(blob)
        t = Timing(d["cron"], d["every_ms"], d["tz"], d["catch_up"])
        return cls(name, d["task"], d["queue"], t, tuple(d["args"]), dict(d["kwargs"]))


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name or not name.isprintable() or len(name) > 200:
        raise ConfigurationError(
            f"a schedule name must be 1 to 200 printable characters, got {name!r}"
        )
    return name


__all__ = ["MAX_CATCH_UP", "ON_TIME_MS", "CatchUp", "Schedule", "Timing", "check_name", "timing"]
