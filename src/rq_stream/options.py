"""Frozen option records; every duration carries its unit in its name."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, capped: delay = U(0.5, 1) * min(cap, base * 2**n)."""

    base_s: float = 1.0
    cap_s: float = 300.0
    jitter: bool = True

    def delay_s(self, attempt: int, rand: random.Random | None = None) -> float:
        """Delay before the attempt after ``attempt`` (attempt counts from 1)."""
        raw = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        if not self.jitter:
            return float(raw)
        r: float = (rand or random).random()
        return float(raw * (0.5 + 0.5 * r))


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Settings fixed when a task is registered with ``@app.task(...)``."""

    name: str
    queue: str = "default"
    result_ttl_s: int = 3600
    retries: int = 0
    """How many times a failing task is run again (so ``max_attempts = retries + 1``)."""
    backoff: Backoff = field(default_factory=Backoff)
    no_retry_on: tuple[type[BaseException], ...] = ()
    timeout_s: float | None = None
    lease_s: float | None = None
    """Per-task lease; the worker reclaims a queue's dead work after the shortest lease."""
    max_attempts: int | None = None
    """Total starts allowed, crashes included; defaults to ``retries + 1`` (at least 3 when the
    task has no retries, so a worker killed once by an unrelated deploy does not dead-letter)."""
    rate_limit: str | None = None
    """At most this many starts per period across all workers, e.g. ``"100/m"`` or ``"5/10s"``;
    a job over the limit waits in the delayed set (not failed, not an attempt)."""
    rate_key: Callable[..., Any] | None = None
    """Called with the job's arguments by name; one ``rate_limit`` per value (per tenant...)."""
    unique: bool | Callable[..., Any] = False
    """True: identical arguments make an identical job; a callable: its value (called with the
    job's arguments by name) is the identity. Enqueueing a copy of a live job returns that job."""
    unique_ttl_s: int = 86_400
    """Longest a unique job blocks its duplicates (a safety net if it never finishes)."""
    process: bool = False
    """Run this plain ``def`` in a worker subprocess instead of a thread: for CPU-bound code and
    C calls that hold the GIL (which would stop the worker renewing its leases)."""

    @property
    def attempts_allowed(self) -> int:
        if self.max_attempts is not None:
            return self.max_attempts
        return max(self.retries + 1, 3)


@dataclass(frozen=True, slots=True)
class JobOptions:
    """Per-enqueue options; never mixed with the task's own arguments."""

    job_id: str | None = None
    delay_s: float | None = None
    at: datetime | None = None
    queue: str | None = None
    result_ttl_s: int | None = None
