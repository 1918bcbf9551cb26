"""Rate limits shared by every process on the same Redis: per task and standalone.

``@app.task(rate_limit="100/m")`` lets at most 100 jobs of the task *start* in any window of one
minute, across all workers; ``rate_key=lambda tenant, **_: tenant`` makes it one limit per key.
A job over the limit is deferred (put back into its queue's delayed set until a slot frees), not
failed and not counted as an attempt.

``limiter = app.rate_limiter("search-api", "10/s")`` is the same limiter for code outside tasks:
``await limiter.acquire(user_id)`` waits for a slot; ``await limiter.try_acquire(user_id)``
answers at once with a :class:`Decision` (truthy when allowed, else ``retry_after_s``).

The algorithm is a sliding-window log in one Lua script (``rate_acquire.lua``): exact (never
more than ``limit`` acquisitions in any window of the period, on the server's clock), atomic,
and O(limit) memory per key.
"""

from __future__ import annotations

import functools
import random
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from rq_stream.errors import ConfigurationError, RqStreamError
from rq_stream.patterns.unique import call_by_name

if TYPE_CHECKING:
    from rq_stream.client.task import Task
    from rq_stream.context import Context
    from rq_stream.keys import AppKeys
    from rq_stream.scripts import Scripts

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(ms|s|m|h|d)\s*$")


class RateLimited(RqStreamError, TimeoutError):
    """``RateLimiter.acquire`` would have to wait longer than its ``timeout_s``."""


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` acquisitions per ``period_ms``."""

    limit: int
    period_ms: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.period_ms}ms"


@functools.lru_cache(maxsize=256)
def parse_rate(text: str) -> Rate:
    """``"100/m"``, ``"10/s"``, ``"5/10s"``, ``"1000/h"``, ``"2/d"``, ``"3/500ms"``."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigurationError(
            f"invalid rate {text!r}: write COUNT/PERIOD such as '100/m', '10/s' or '5/10s' "
            "(units: ms, s, m, h, d)"
        )
    limit, count, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if limit < 1 or count < 1:
        raise ConfigurationError(f"invalid rate {text!r}: the count and period must be >= 1")
    return Rate(limit, count * _UNITS_MS[unit])


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of ``try_acquire``: truthy when a slot was taken."""

    allowed: bool
    retry_after_s: float = 0.0

    def __bool__(self) -> bool:
        return self.allowed


async def take(scripts: Scripts, key: str, rate: Rate) -> int:
    """Take one slot of ``rate`` under ``key``: 0 if taken, else ms until a slot frees."""
    ok, wait_ms = await scripts.run(
        "rate_acquire", [key], [rate.limit, rate.period_ms, uuid.uuid4().hex]
    )
    return 0 if ok else int(wait_ms)


class RateLimiter:
    """A named rate limit shared by every process on the app's Redis (``app.rate_limiter``)."""

    def __init__(self, app: Context, name: str, rate: str | Rate) -> None:
        self.app = app
        self.name = name
        self.rate = parse_rate(rate) if isinstance(rate, str) else rate

    def __repr__(self) -> str:
        return f"RateLimiter({self.name!r}, {self.rate})"

    def _key(self, key: object) -> str:
        return self.app.keys.limiter(self.name if key in (None, "") else f"{self.name}:{key}")

    async def try_acquire(self, key: object = "") -> Decision:
        """Take a slot now if there is one; never waits."""
        wait_ms = await take(self.app.scripts, self._key(key), self.rate)
        return Decision(wait_ms == 0, wait_ms / 1000)

    async def acquire(self, key: object = "", *, timeout_s: float | None = None) -> None:
        """Wait for a slot (sleeping exactly until one frees, never spinning).

        Raises :class:`RateLimited` at once if the wait would end after ``timeout_s``.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            wait_ms = await take(self.app.scripts, self._key(key), self.rate)
            if wait_ms == 0:
                return
            wait_s = wait_ms / 1000
            if deadline is not None and time.monotonic() + wait_s > deadline:
                raise RateLimited(
                    f"rate limit {self.name!r} ({self.rate.limit} per {self.rate.period_ms} ms) "
                    f"for key {key!r}: next slot in {wait_s:.3f} s, beyond timeout_s={timeout_s}"
                )
            # A little jitter so waiters woken by the same freed slot do not all collide.
            await anyio.sleep(wait_s + random.uniform(0, 0.01))


# --------------------------------------------------------------------------- task rate limits
def task_key(keys: AppKeys, task: Task[Any, Any], args: Any, kwargs: Any) -> str:
    """The Redis key of the limit a job of ``task`` with these arguments falls under."""
    name = task.name
    rate_key = task.settings.rate_key
    if rate_key is not None:
        name = f"{task.name}:{call_by_name(rate_key, task.signature, args, kwargs)}"
    return keys.queue(task.settings.queue).rate(name)


__all__ = ["Decision", "Rate", "RateLimited", "RateLimiter", "parse_rate", "take"]
