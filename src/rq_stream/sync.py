"""Enqueue and read results from code without an event loop: Django or Flask views, scripts,
code moving over from Celery.

    job = add.enqueue_sync(1, 2)            # blocks until Redis has stored the job
    job.result(timeout_s=5)                 # 3
    app.sync.enqueue_many([add.call(1, 2), add.options(delay_s=5).call(3, 4)])
    app.sync.job(job_id).status()

Each :class:`SyncClient` (``app.sync`` is the app's own) runs one event loop in a daemon thread,
started on first use and reached through an anyio ``BlockingPortal``; every blocking call runs a
coroutine there and waits for it, so any number of threads may call at once. The loop has its
own clients (a fork of the app's context: same settings and queues), because redis-py clients
belong to the loop that made them and the app's own may be in use on another loop. Enqueues go
through the same :class:`~rq_stream.client.enqueue.Producer` as ``await task.enqueue(...)``,
with the same checks and errors (:class:`~rq_stream.EnqueueError`,
:class:`~rq_stream.ConnectionFailed`, ...).

The thread stops at ``close()`` or at interpreter exit; a later call starts it again. In a
process forked after the thread started (gunicorn ``--preload``), the child starts its own.
Called from a thread that runs an event loop, every blocking call raises
:class:`SyncCallInEventLoop` instead of blocking that loop.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from rq_stream.client.enqueue import Producer
from rq_stream.client.job import Job
from rq_stream.client.sync_job import SyncJob
from rq_stream.client.task import BoundTask, Call, Enqueuer, P, R, Task
from rq_stream.context import Context
from rq_stream.errors import RqStreamError
from rq_stream.middleware import Middleware

T = TypeVar("T")

_ORPHANS: list[object] = []
"""What a forked child inherited of its parent's loop thread: kept, never closed (closing
would shut the parent's sockets)."""


class SyncCallInEventLoop(RqStreamError, RuntimeError):
    """A blocking call (``enqueue_sync``, ``SyncClient``, ``SyncJob``) was made in a thread
    that runs an event loop, which it would block."""


def _refuse_in_event_loop(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise SyncCallInEventLoop(
        f"{what} would block the event loop running in this thread: in async code use the "
        "async API (`await task.enqueue(...)`, `await app.enqueue_many(...)`, "
        "`await job.result(...)`)"
    )


class SyncHost(Enqueuer, Protocol):
    """What a sync client needs of its application (``RqStream``)."""

    @property
    def context(self) -> Context: ...

    @property
    def default_queue(self) -> str: ...

    def get_task(self, name: str) -> Task[Any, Any]: ...

    @property
    def middleware(self) -> Sequence[Middleware]: ...


class SyncClient:
    """Blocking enqueues and job look-ups for ``app``, safe to share between threads."""

    def __init__(self, app: SyncHost) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._ctx: Context | None = None  # touched on the loop thread only
        self._producer: Producer | None = None

    def __repr__(self) -> str:
        return f"SyncClient({self.app!r}, running={self.running})"

    @property
    def running(self) -> bool:
        """Whether this client's loop thread is up (in this process)."""
        return self._portal is not None and self._pid == os.getpid()

    # ----------------------------------------------------------------- blocking API
    def enqueue(
        self, task: Task[P, R] | BoundTask[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> SyncJob[R]:
        """``client.enqueue(add, 1, 2)``: like ``await add.enqueue(1, 2)``, blocking."""
        (job,) = self.enqueue_many([task.call(*args, **kwargs)])
        return job

    def enqueue_many(self, calls: Iterable[Call[Any]]) -> list[SyncJob[Any]]:
        """Enqueue many jobs in one round trip per queue (see ``RqStream.enqueue_many``)."""
        _refuse_in_event_loop("a blocking enqueue (enqueue_sync, app.sync)")
        todo = list(calls)
        refs = self._run(lambda: self._enqueue(todo))
        return [SyncJob(self, job_id, queue) for job_id, queue in refs]

    def enqueue_by_name(
        self, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> SyncJob[Any]:
        """Enqueue a task by its registered name (untyped callers)."""
        task = self.app.get_task(name)
        (job,) = self.enqueue_many([Call(task, tuple(args), dict(kwargs or {}))])
        return job

    def job(self, job_id: str, queue: str | None = None) -> SyncJob[Any]:
        """A blocking handle on an existing job, by its id (holds no connection)."""
        return SyncJob(self, job_id, queue or self.app.default_queue)

    def connect(self) -> None:
        """Start the loop thread and check that Redis answers (raises ``ConnectionFailed``)."""
        _refuse_in_event_loop("a blocking SyncClient.connect()")
        self._run(self._connect)

    def run_job(self, job_id: str, queue: str, fn: Callable[[Job[Any]], Awaitable[T]]) -> T:
        """Run ``fn(job)`` on the loop thread with a ``Job`` bound to its clients (what
        :class:`SyncJob` does for ``result``, ``status`` and ``info``)."""
        _refuse_in_event_loop("a blocking SyncJob.result(), status() or info()")

        async def on_loop() -> T:
            ctx, _ = await self._state()
            return await fn(Job(ctx, job_id, queue))  # its look-ups raise ConnectionFailed

        return self._run(on_loop)

    def close(self) -> None:
        """Close this client's connections and stop its loop thread (calls still waiting are
        cancelled). Safe to call twice; the next blocking call starts a new thread."""
        with self._lock:
            portal, thread = self._portal, self._thread
            self._portal = self._thread = None
            if portal is None or thread is None:
                return
            atexit.unregister(self.close)
            if self._pid != os.getpid():
                self._orphan(portal)
                return
        try:
            portal.call(self._aclose)
        finally:
            portal.call(portal.stop, True)
            thread.join(10)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- on the loop thread
    async def _state(self) -> tuple[Context, Producer]:
        """This client's context and producer, re-forked when the app's settings changed
        (``app.url = ...``; the old clients are closed)."""
        base = self.app.context
        if self._ctx is None or self._producer is None or self._ctx.settings is not base.settings:
            stale, self._ctx = self._ctx, base.fork()
            self._producer = Producer(self._ctx, self.app, self.app.middleware)
            if stale is not None:
                await stale.close()
        return self._ctx, self._producer

    async def _enqueue(self, calls: list[Call[Any]]) -> list[tuple[str, str]]:
        _, producer = await self._state()
        return [(job.id, job.queue) for job in await producer.enqueue_many(calls)]

    async def _connect(self) -> None:
        ctx, _ = await self._state()
        await ctx.connect()

    async def _aclose(self) -> None:
        ctx, self._ctx, self._producer = self._ctx, None, None
        if ctx is not None:
            await ctx.close()

    # ----------------------------------------------------------------- the loop thread
    def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        future = self._running_portal().start_task_soon(fn)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Ctrl-C while waiting for a result: stop waiting there too
            raise

    def _running_portal(self) -> BlockingPortal:
        with self._lock:
            if self._portal is not None and self._pid == os.getpid():
                return self._portal
            if self._portal is not None:  # inherited by a forked child: its thread is gone
                self._orphan(self._portal)
            started: list[BlockingPortal] = []
            ready = threading.Event()
            thread = threading.Thread(
                target=anyio.run, args=(self._serve, started, ready), daemon=True,
                name=f"rq_stream-sync-{id(self):x}",
            )  # fmt: skip
            thread.start()
            ready.wait(30)
            if not started:
                raise RuntimeError("the rq_stream sync client's event loop did not start")
            self._portal, self._thread, self._pid = started[0], thread, os.getpid()
            atexit.register(self.close)
            return self._portal

    @staticmethod
    async def _serve(started: list[BlockingPortal], ready: threading.Event) -> None:
        try:
            async with BlockingPortal() as portal:
                started.append(portal)
                ready.set()
                await portal.sleep_until_stopped()
        finally:
            ready.set()

    def _orphan(self, portal: BlockingPortal) -> None:
        _ORPHANS.append((portal, self._ctx))
        self._portal = self._thread = None
        self._ctx = self._producer = None


__all__ = ["SyncCallInEventLoop", "SyncClient", "SyncHost", "SyncJob"]
