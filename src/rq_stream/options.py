"""Frozen option records; every duration carries its unit in its name."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, TypedDict

if sys.version_info >= (3, 11):
    from typing import Unpack as Unpack
else:  # pragma: no cover
    from typing_extensions import Unpack as Unpack

from rq_stream import validate
from rq_stream.errors import ConfigurationError, EnqueueError

DEFAULT_RESULT_TTL_S = 3600
MAX_ATTEMPTS = 1_000_000
"""How long a finished job's record (status, result or error) is kept, unless set otherwise."""
MAX_CONCURRENCY = 100_000
"""The largest ``@app.task(concurrency=...)``."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, capped: delay = U(0.5, 1) * min(cap, base * 2**n)."""

    base_s: float = 1.0
    cap_s: float = 300.0
    jitter: bool = True

    def __post_init__(self) -> None:
        problem = validate.first(
            validate.seconds("base_s", self.base_s, positive=False),
            validate.seconds("cap_s", self.cap_s, positive=False),
            None
            if isinstance(self.jitter, bool)
            else f"jitter must be a bool, got {self.jitter!r}",
        )
        if problem:
            raise ConfigurationError(f"Backoff: {problem}")

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
    result_ttl_s: int = DEFAULT_RESULT_TTL_S
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
    expires_s: float | None = None
    """A job of this task not started within this many seconds of its enqueue is not run: it
    ends ``expired`` (a job's own ``expires_s`` or ``expires_at`` replaces it)."""
    concurrency: int | None = None
    """At most this many jobs of this task run at once across all workers (per value of
    ``concurrency_key`` if given); a job over the limit waits, not counted as an attempt."""
    concurrency_key: Callable[..., Any] | None = None
    """Called with the job's arguments by name, returns a str: one ``concurrency`` per value."""

    def __post_init__(self) -> None:
        problem = _task_problem(self)
        if problem:
            raise ConfigurationError(f"invalid setting of task {self.name!r}: {problem}")

    @property
    def attempts_allowed(self) -> int:
        if self.max_attempts is not None:
            return self.max_attempts
        return max(self.retries + 1, 3)


class TaskSettings(TypedDict, total=False):
    """The keyword arguments of ``@app.task(...)``: :class:`TaskOptions`' fields, which hold
    their defaults and meaning (a test checks the two agree)."""

    name: str | None
    queue: str | None
    result_ttl_s: int
    retries: int
    backoff: Backoff | None
    no_retry_on: tuple[type[BaseException], ...]
    timeout_s: float | None
    lease_s: float | None
    max_attempts: int | None
    rate_limit: str | None
    rate_key: Callable[..., Any] | None
    unique: bool | Callable[..., Any]
    unique_ttl_s: int
    process: bool
    expires_s: float | None
    concurrency: int | None
    concurrency_key: Callable[..., Any] | None


TASK_SETTINGS = frozenset(f.name for f in fields(TaskOptions))


def task_options(default_queue: str, default_name: str, given: dict[str, Any]) -> TaskOptions:
    """The :class:`TaskOptions` of ``@app.task(**given)``; checks every setting."""
    unknown = sorted(set(given) - TASK_SETTINGS)
    if unknown:
        raise TypeError(f"task() got unexpected keyword arguments {unknown} "
                        f"(known: {', '.join(sorted(TASK_SETTINGS))})")  # fmt: skip
    settings = {k: v for k, v in given.items() if not (k == "backoff" and v is None)}
    settings["name"] = given.get("name") or default_name
    settings["queue"] = given.get("queue") or default_queue
    if "no_retry_on" in settings:
        settings["no_retry_on"] = tuple(settings["no_retry_on"])
    return TaskOptions(**settings)


@dataclass(frozen=True, slots=True)
class JobOptions:
    """Per-enqueue options; never mixed with the task's own arguments."""

    job_id: str | None = None
    delay_s: float | None = None
    at: datetime | None = None
    queue: str | None = None
    result_ttl_s: int | None = None
    expires_s: float | None = None
    """Not started within this many seconds of the enqueue: not run, ends ``expired``."""
    expires_at: datetime | None = None
    """Not started by this instant: not run, ends ``expired`` (refused if already past)."""

    def __post_init__(self) -> None:
        problem = validate.first(
            None if self.job_id is None else validate.job_id(self.job_id),
            None if self.delay_s is None else validate.seconds("delay_s", self.delay_s,
                                                               positive=False),
            None if self.at is None else validate.aware_datetime("at", self.at),
            None if self.queue is None else validate.queue("queue", self.queue),
            None if self.result_ttl_s is None else validate.whole("result_ttl_s",
                                                                  self.result_ttl_s, 0),
            "give either delay_s or at, not both"
            if self.delay_s is not None and self.at is not None
            else None,
            None if self.expires_s is None else validate.seconds("expires_s", self.expires_s,
                                                                 positive=True),
            None if self.expires_at is None else validate.aware_datetime("expires_at",
                                                                         self.expires_at),
            "give either expires_s or expires_at, not both"
            if self.expires_s is not None and self.expires_at is not None
            else None,
        )  # fmt: skip
        if problem:
            raise EnqueueError(f"invalid job option: {problem}")

    def merged(self, **given: Unpack[JobSettings]) -> JobOptions:
        """These options with ``given`` merged over them (a new ``delay_s`` replaces an earlier
        ``at``, and the other way round); every option is checked."""
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        JobOptions(**changes)  # checks the given ones together ("delay_s or at", names)
        old = self
        for pair in (("delay_s", "at"), ("expires_s", "expires_at")):
            if set(pair) & changes.keys():
                old = replace(old, **dict.fromkeys(pair))
        return replace(old, **changes)


class JobSettings(TypedDict, total=False):
    """The keyword arguments of ``.options(...)``: :class:`JobOptions`' fields."""

    job_id: str | None
    delay_s: float | None
    at: datetime | None
    queue: str | None
    result_ttl_s: int | None
    expires_s: float | None
    expires_at: datetime | None


JOB_SETTINGS = tuple(f.name for f in fields(JobOptions))


def _task_problem(o: TaskOptions) -> str | None:
    """What is wrong with a task's settings (``@app.task(...)``), if anything."""
    return validate.first(
        None if isinstance(o.name, str) and o.name else f"name must be a non-empty str, "
        f"got {o.name!r}",
        validate.queue("queue", o.queue),
        validate.whole("result_ttl_s", o.result_ttl_s, 0),
        validate.whole("retries", o.retries, 0, MAX_ATTEMPTS),
        None if isinstance(o.backoff, Backoff) else f"backoff must be a Backoff, got {o.backoff!r}",
        None if isinstance(o.no_retry_on, tuple) and all(
            isinstance(t, type) and issubclass(t, BaseException) for t in o.no_retry_on
        ) else f"no_retry_on must be exception classes, got {o.no_retry_on!r}",
        None if o.timeout_s is None else validate.seconds("timeout_s", o.timeout_s, positive=True),
        None if o.lease_s is None else validate.seconds("lease_s", o.lease_s, positive=True),
        None if o.max_attempts is None else
        validate.whole("max_attempts", o.max_attempts, 1, MAX_ATTEMPTS),
        None if o.rate_limit is None or isinstance(o.rate_limit, str) else
        f"rate_limit must be a str like '100/m', got {o.rate_limit!r}",
        None if o.rate_key is None or callable(o.rate_key) else
        f"rate_key must be a function of the job's arguments, got {o.rate_key!r}",
        None if isinstance(o.unique, bool) or callable(o.unique) else
        f"unique must be a bool or a function of the job's arguments, got {o.unique!r}",
        validate.whole("unique_ttl_s", o.unique_ttl_s, 1),
        None if isinstance(o.process, bool) else f"process must be a bool, got {o.process!r}",
        None if o.expires_s is None else validate.seconds("expires_s", o.expires_s, positive=True),
        None if o.concurrency is None else
        validate.whole("concurrency", o.concurrency, 1, MAX_CONCURRENCY),
        None if o.concurrency_key is None or callable(o.concurrency_key) else
        f"concurrency_key must be a function of the job's arguments, got {o.concurrency_key!r}",
        "concurrency_key needs a concurrency (e.g. concurrency=2)"
        if o.concurrency_key is not None and o.concurrency is None else None,
    )  # fmt: skip
