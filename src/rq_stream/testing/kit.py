"""Testing an application's own tasks: bind the app to a test Redis under a fresh key prefix,
then run what is queued to completion in-process.

    async with bind(app, redis_url):
        job = await add.enqueue(1, 2)
        report = await run_until_idle(app, raise_on_failure=True)
        assert await job.result() == 3 and report.completed == 1
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import anyio

from rq_stream import RqStream, Worker
from rq_stream.client.dead_letters import DeadLetter
from rq_stream.connect import connection
from rq_stream.errors import ConfigurationError

Delayed = Literal["now", "wait", "leave"]
"""What :func:`run_until_idle` does with jobs waiting in a delayed set: ``"now"`` makes them
due at once, ``"wait"`` waits for their time, ``"leave"`` leaves them there."""

_TICK_S = 0.02


def fresh_prefix() -> str:
    """A key prefix no other test uses: ``test-`` and 12 hex digits."""
    return f"test-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def bind(app: RqStream, url: str, *, prefix: str | None = None) -> AsyncIterator[RqStream]:
    """Point ``app`` (a module-level ``RqStream``, as in your code) at ``url`` under ``prefix``
    (default: a fresh one) for the block, connected; on exit close its clients (also those of
    ``app.sync``) and restore its own URL and prefix. The app must hold no clients when the
    block starts: they would belong to another test's event loop."""
    if app.context.connected:
        raise ConfigurationError(
            f"bind(): the app already holds clients for {connection.describe(app.url)}: "
            "await app.close() where it was used (each test's event loop needs its own)"
        )
    saved = app.url, app.prefix
    app.url = url
    app.prefix = prefix or fresh_prefix()
    try:
        await app.connect()
        yield app
    finally:
        await app.close()
        if app.sync.running:
            await anyio.to_thread.run_sync(app.sync.close)
        app.url, app.prefix = saved


@dataclass(frozen=True, slots=True)
class RunReport:
    """What :func:`run_until_idle` ran."""

    completed: int
    """Jobs that succeeded."""
    retried: int
    """Failed attempts that were retried."""
    failed: int
    """Jobs dead-lettered (failed for good)."""
    scheduled: int
    """Jobs still waiting in a delayed set at the end (with ``delayed="leave"``)."""
    dead_letters: tuple[DeadLetter, ...] = ()
    """The dead letters of this run, with their errors."""


class JobsFailed(AssertionError):
    """``run_until_idle(..., raise_on_failure=True)`` dead-lettered at least one job."""

    def __init__(self, report: RunReport) -> None:
        lines = [f"{d.task}({d.job_id}): {d.exc_type}: {d.message}" for d in report.dead_letters]
        super().__init__(
            f"{report.failed} job(s) failed for good (dead-lettered): " + "; ".join(lines)
        )
        self.report = report


async def run_until_idle(
    app: RqStream,
    *,
    queues: Sequence[str] | None = None,
    concurrency: int = 10,
    delayed: Delayed = "now",
    timeout_s: float = 60.0,
    raise_on_failure: bool = False,
) -> RunReport:
    """Run the queued jobs of ``queues`` (default: every queue the app's tasks use) with an
    in-process :class:`~rq_stream.Worker` until nothing is left to run, and report.

    Jobs enqueued while it runs (by tasks, say) run too. ``delayed`` (see :data:`Delayed`):
    ``"now"`` (default) runs delayed jobs and retries at once, ignoring their delay and backoff
    (rate limits still hold: a rate-limited job waits its turn); ``"wait"`` waits for them in
    real time; ``"leave"`` stops once no job is due, counting the rest in ``scheduled``.
    ``raise_on_failure=True`` raises :class:`JobsFailed` if a job was dead-lettered; a run
    still busy after ``timeout_s`` raises ``TimeoutError``.
    """
    worker: Worker[RqStream] = Worker(
        app, queues, concurrency, handle_signals=False, grace_s=1.0, delayed_max_sleep_s=0.1,
        name=f"run_until_idle-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    worker.run_schedules = False  # a test runs what it enqueued, not the app's cron ticks
    idle = _Idle(app, worker, delayed)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(idle.watch, timeout_s)
            await worker.run()
    except BaseException as exc:
        single = _single(exc)
        if single is exc:
            raise
        raise single from None
    if idle.timed_out:
        raise TimeoutError(
            f"run_until_idle: the queues {worker.queues} were still busy after {timeout_s} s"
        )
    stats = worker.stats
    letters = await _dead_letters(app, worker) if stats.failed else ()
    report = RunReport(stats.completed, stats.retried, stats.failed, idle.scheduled, letters)
    if raise_on_failure and report.failed:
        raise JobsFailed(report)
    return report


class _Idle:
    """Stops the worker once its queues have nothing left to run."""

    def __init__(self, app: RqStream, worker: Worker[RqStream], delayed: Delayed) -> None:
        self.app, self.worker, self.delayed = app, worker, delayed
        self.scheduled = 0
        self.timed_out = False

    async def watch(self, timeout_s: float) -> None:
        try:
            with anyio.move_on_after(timeout_s) as scope:
                while not await self._idle():
                    await anyio.sleep(_TICK_S)
            self.timed_out = scope.cancelled_caught
        finally:
            self.worker.request_stop()

    async def _idle(self) -> bool:
        if self.worker.in_flight:
            return False
        busy, scheduled = False, 0
        for q in self.worker.queues:
            c = await self.app.backend(q).counts()
            scheduled += c.delayed
            if c.delayed and self.delayed == "now":
                await self._make_due(q)
            if c.backlog or c.in_flight or (c.delayed and await self._waits_for_delayed(q)):
                busy = True
        self.scheduled = scheduled
        return not busy and not self.worker.in_flight

    async def _waits_for_delayed(self, queue: str) -> bool:
        return self.delayed != "leave" or await self._due(queue)

    async def _due(self, queue: str) -> bool:
        now_ms = int(time.time() * 1000)
        return bool(await self.app.redis.zcount(self.app.keys.queue(queue).delayed, "-inf", now_ms))

    async def _make_due(self, queue: str) -> None:
        """Score every delayed job of ``queue`` 0 (due) and wake the worker's mover: ZADD XX
        only rescores members still there (a job the mover just took is not put back)."""
        key = self.app.keys.queue(queue).delayed
        members = await self.app.redis.zrange(key, 0, -1)
        if members:
            await self.app.redis.zadd(key, dict.fromkeys(members, 0), xx=True)
            self.worker.wake_delayed(queue)


async def _dead_letters(app: RqStream, worker: Worker[RqStream]) -> tuple[DeadLetter, ...]:
    found: list[DeadLetter] = []
    for q in worker.queues:
        found += [d for d in await app.dead_letters(q).all() if d.worker == worker.name]
    return tuple(found)


def _single(exc: BaseException) -> BaseException:
    """The one error inside (nested) exception groups, else ``exc`` itself."""
    inner: Sequence[BaseException] = getattr(exc, "exceptions", ())
    while len(inner) == 1:
        exc = inner[0]
        inner = getattr(exc, "exceptions", ())
    return exc


__all__ = ["Delayed", "JobsFailed", "RunReport", "bind", "fresh_prefix", "run_until_idle"]
