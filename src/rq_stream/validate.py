"""Checks of option values, shared by job options (``EnqueueError``), task settings
(``ConfigurationError``) and the envelope decoder (``EnvelopeError``).

Each check returns ``None`` when the value is fine, else a sentence naming the option and the bad
value; the caller raises it as its own error class. Nothing here touches Redis.
"""

from __future__ import annotations

import math
from datetime import datetime

MAX_SECONDS = 2**31 - 1
"""Largest TTL or delay in seconds (~68 years). The Lua scripts check the same bound
(``scripts/lib/check.lua``): past it a TTL no longer fits the integer Redis EXPIRE takes."""
MAX_JOB_ID_CHARS = 256
MAX_QUEUE_CHARS = 200


def _got(value: object) -> str:
    return f"got {value!r} ({type(value).__name__})"


def whole(name: str, value: object, low: int, high: int = MAX_SECONDS) -> str | None:
    """An ``int`` (not a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} must be an int from {low} to {high}, {_got(value)}"
    if value < low:
        return f"{name} must be >= {low} (an int), got {value!r}"
    if value > high:
        return f"{name} must be <= {high} (an int), got {value!r}"
    return None


def seconds(name: str, value: object, *, positive: bool) -> str | None:
    """A finite number of seconds (int or float, not a bool), > 0 or >= 0."""
    low = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be a number of seconds {low}, {_got(value)}"
    if math.isnan(value) or value < 0 or (positive and value == 0):
        return f"{name} must be a number of seconds {low}, got {value!r}"
    if value > MAX_SECONDS:
        return f"{name} must be at most {MAX_SECONDS} seconds, got {value!r}"
    return None


def job_id(value: object) -> str | None:
    if not isinstance(value, str):
        return f"job_id must be a str, {_got(value)}"
    if not value or len(value) > MAX_JOB_ID_CHARS or not value.isprintable():
        return (
            f"job_id must be 1 to {MAX_JOB_ID_CHARS} printable characters (no newlines or "
            f"control characters), got {value[:300]!r}"
        )
    return None


def queue(name: str, value: object) -> str | None:
    """A queue name: it goes into every key of the queue as its hash tag ``{queue}``."""
    if not isinstance(value, str):
        return f"{name} must be a str, {_got(value)}"
    if (
        not value
        or len(value) > MAX_QUEUE_CHARS
        or not value.isprintable()
        or any(c in value for c in "{}, ")
    ):
        return (
            f"{name} must be 1 to {MAX_QUEUE_CHARS} printable characters without braces, "
            f"commas or spaces, got {value[:300]!r}"
        )
    return None


def aware_datetime(name: str, value: object) -> str | None:
    if not isinstance(value, datetime):
        return f"{name} must be a datetime with a timezone, {_got(value)}"
    if value.tzinfo is None or value.utcoffset() is None:
        return f"{name} must be an aware datetime (with a timezone), got {value!r}"
    return None


def first(*problems: str | None) -> str | None:
    """The first problem found, if any."""
    return next((p for p in problems if p is not None), None)
