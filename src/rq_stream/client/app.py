"""The application facade: a registry of tasks and queues over a :class:`Context`, which
owns the settings, key names and Redis clients (everything else takes the context)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar, overload

from rq_stream import validate
from rq_stream.backends.base import Backend
from rq_stream.client import admin, pausing
from rq_stream.client.context_view import ContextView
from rq_stream.client.dead_letters import DeadLetters
from rq_stream.client.enqueue import Producer
from rq_stream.client.job import Job
from rq_stream.client.schedules import Scheduling
from rq_stream.client.sync_job import SyncJob
from rq_stream.client.task import Call, P, R, Task, TaskDecorator, default_name
from rq_stream.codec import DEFAULT_MAX_PAYLOAD_BYTES
from rq_stream.connect.connection import ConnectionSettings
from rq_stream.context import BackendKind, Context, QueueConfig
from rq_stream.errors import ConfigurationError, UnknownTask
from rq_stream.lifespan import LifespanFunction, LifespanT
from rq_stream.lifespan import check as check_lifespan
from rq_stream.middleware import Middleware, check
from rq_stream.options import TaskOptions, TaskSettings, Unpack, task_options
from rq_stream.patterns.cache import Cached, cached
from rq_stream.patterns.locks import Lock
from rq_stream.patterns.ratelimit import RateLimiter, parse_rate
from rq_stream.schedules import Schedule
from rq_stream.serializers import MSGPACK, Serializer
from rq_stream.serializers import check as check_serializer
from rq_stream.settings import Settings, default_url, target_url
from rq_stream.sync import SyncClient

__all__ = ["BackendKind", "QueueConfig", "RqStream", "default_url"]

T = TypeVar("T")


class RqStream(ContextView, Scheduling):
    """An application: its tasks, its Redis and its queues.

    ``url`` defaults to ``$REDIS_URL`` or ``redis://127.0.0.1:6379/0``; a Redis Cluster is
    ``cluster_nodes=["host:port", ...]`` (or a ``redis+cluster://`` URL), a Sentinel-managed
    master ``sentinels=[("host", 26379), ...], service_name="mymaster"`` (or a
    ``redis+sentinel://`` URL; see :mod:`rq_stream.connect.topology`). ``wait_replicas=N`` makes
    every enqueue wait (``WAIT``, up to ``wait_timeout_ms``) until N replicas have the job. All keys
    start with ``prefix``. ``lease_s`` is how long a job may go without its worker's renewal
    before another worker takes it over (the worker's event loop renews it every third of it,
    so only dead or stalled workers lose jobs; GIL-holding code belongs in ``process=True``).
    ``serializer`` encodes job payloads and results (:mod:`rq_stream.serializers`: msgpack by
    default, ``JsonSerializer()``, ``PydanticSerializer()``); nothing is ever unpickled.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "rqs",
        default_queue: str = "default",
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        lease_s: float = 30.0,
        connection_settings: ConnectionSettings | None = None,
        cluster_nodes: Sequence[str | tuple[str, int]] | None = None,
        sentinels: Sequence[str | tuple[str, int]] | None = None,
        service_name: str | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        middleware: Sequence[Middleware] = (),
        serializer: Serializer | None = None,
    ) -> None:
        settings = Settings(
            url=target_url(url, cluster_nodes, sentinels, service_name),
            prefix=prefix,
            default_queue=default_queue,
            max_payload_bytes=max_payload_bytes,
            lease_s=lease_s,
            connection=connection_settings or ConnectionSettings(),
            wait_replicas=wait_replicas,
            wait_timeout_ms=wait_timeout_ms,
            serializer=MSGPACK if serializer is None else check_serializer(serializer),
        )
        self.context = Context(settings)
        """Settings, key names and clients: what job handles, patterns and workers use."""
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.schedules: dict[str, Schedule] = {}
        """Schedules declared in code (``@app.cron``, ``app.schedule``): see Scheduling."""
        self.lifespan_function: LifespanFunction | None = None
        """What ``@app.lifespan`` registered: every worker process runs it."""
        self._middleware = [check(m) for m in middleware]
        self._producer = Producer(self.context, self, self._middleware)
        self.sync = SyncClient(self)
        """Blocking enqueues and results for code without an event loop (rq_stream.sync)."""

    # ----------------------------------------------------------------- registration
    @property
    def queues(self) -> dict[str, QueueConfig]:
        return self.context.queues

    def queue(self, name: str, *, backend: BackendKind = "streams") -> QueueConfig:
        """Declare a queue's backend (``"streams"``, the default, or ``"lists"``)."""
        if backend not in ("streams", "lists"):
            raise ConfigurationError(f"unknown backend {backend!r}: use 'streams' or 'lists'")
        if problem := validate.queue("queue name", name):
            raise ConfigurationError(problem)
        config = QueueConfig(name, backend)
        self.context.queues[name] = config
        return config

    def queue_config(self, name: str) -> QueueConfig:
        return self.context.queue_config(name)

    @overload
    def task(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...
    @overload
    def task(self, /, **options: Unpack[TaskSettings]) -> TaskDecorator: ...

    def task(self, fn: Any = None, /, **options: Any) -> Any:
        """Register a task: ``@app.task`` or ``@app.task(queue="emails", retries=3)``.

        The settings are :class:`~rq_stream.options.TaskOptions`' fields. ``rate_limit="100/m"``
        caps starts across all workers (``rate_key`` makes it per key); ``unique=True`` (or a key
        function) makes a duplicate enqueue return the live job; ``concurrency=2`` runs at most
        2 at once across all workers (``concurrency_key`` makes it per key); ``process=True``
        runs a plain ``def`` in a worker subprocess (CPU-bound, GIL-holding).
        """

        def register(f: Callable[..., Any]) -> Task[Any, Any]:
            settings = self._task_options(f, options)
            if settings.name in self.tasks:
                raise ConfigurationError(f"a task named {settings.name!r} is already registered")
            handle: Task[Any, Any] = Task(self, f, settings)
            self.tasks[settings.name] = handle
            return handle

        return register(fn) if fn is not None else register

    def _task_options(self, f: Callable[..., Any], given: dict[str, Any]) -> TaskOptions:
        options = task_options(self.default_queue, default_name(f), given)  # checks each
        if options.rate_limit is not None:
            parse_rate(options.rate_limit)  # raises ConfigurationError with the syntax
        elif options.rate_key is not None:
            raise ConfigurationError("rate_key needs a rate_limit (e.g. rate_limit='10/s')")
        if options.process:
            from rq_stream.worker.processes import reference

            reference(options.name, f)  # raises ConfigurationError if a subprocess can't find it
        return options

    def lifespan(self, fn: LifespanT) -> LifespanT:
        """Register what every worker process opens before its first job and closes after its
        last; tasks reach what it yields through ``Depends(worker_state)`` or
        ``current_job().state`` (see :mod:`rq_stream.lifespan`)::

            @app.lifespan
            async def lifespan(worker: WorkerInfo) -> AsyncIterator[State]:
                async with create_pool(DSN) as pool:
                    yield State(db=pool)
        """
        check_lifespan(fn)
        if self.lifespan_function is not None:
            raise ConfigurationError("a lifespan is already registered on this application")
        self.lifespan_function = fn
        return fn

    @property
    def middleware(self) -> Sequence[Middleware]:
        """Registered middleware, in the order their hooks run (see :mod:`rq_stream.middleware`);
        read-only: register with ``add_middleware``."""
        return self._middleware

    def add_middleware(self, middleware: Middleware) -> None:
        """Register a middleware after those already registered; workers see the middleware
        registered when they start."""
        self._middleware.append(check(middleware))

    def get_task(self, name: str) -> Task[Any, Any]:
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise UnknownTask(f"no task named {name!r} is registered (known: {known})") from None

    # ----------------------------------------------------------------- connections
    async def connect(self) -> None:
        """Check that Redis answers; raises :class:`ConnectionFailed` with the reason."""
        await self.context.connect()

    async def close(self) -> None:
        await self.context.close()
        self._producer.forget()

    async def __aenter__(self) -> RqStream:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def backend(self, queue: str, consumer: str = "producer") -> Backend:
        """The backend object of a queue (the worker makes its own, with its consumer name)."""
        return self.context.backend(queue, consumer)

    # ----------------------------------------------------------------- enqueue
    async def enqueue_many(self, calls: Iterable[Call[Any]]) -> list[Job[Any]]:
        """Enqueue many jobs in one round trip per queue (queues in parallel).

        ``await app.enqueue_many([add.call(1, 2), add.options(delay_s=5).call(3, 4)])``
        A job whose id already exists is not enqueued again: its handle is returned instead.
        """
        return await self._producer.enqueue_many(calls)

    def enqueue_many_sync(self, calls: Iterable[Call[Any]]) -> list[SyncJob[Any]]:
        """``enqueue_many`` for code without an event loop (blocks; see rq_stream.sync)."""
        return self.sync.enqueue_many(calls)

    async def enqueue_by_name(
        self, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Job[Any]:
        """Enqueue a task by its registered name (for the CLI and untyped callers)."""
        task = self.get_task(name)
        (job,) = await self.enqueue_many([Call(task, tuple(args), dict(kwargs or {}))])
        return job

    # ----------------------------------------------------------------- patterns
    def cached(
        self,
        *,
        ttl_s: float,
        key: Callable[..., object] | None = None,
        namespace: str | None = None,
        lock_ttl_s: float = 10.0,
        wait_s: float | None = None,
        redis_stats: bool = False,
    ) -> Callable[[Callable[P, Awaitable[R]]], Cached[P, R]]:
        """Cache an async function's results in Redis for ``ttl_s`` (rq_stream.patterns.cache).

        ``key(*args, **kwargs)`` names an entry (default: a digest of the arguments); one caller
        computes a missing entry while the others wait up to ``wait_s`` for it.
        """
        return cached(self.context, ttl_s=ttl_s, key=key, namespace=namespace,
                      lock_ttl_s=lock_ttl_s, wait_s=wait_s, redis_stats=redis_stats)  # fmt: skip

    def lock(
        self,
        name: str,
        *,
        ttl_s: float = 30.0,
        timeout_s: float | None = None,
        cancel_on_loss: bool = False,
    ) -> Lock:
        """A distributed lock: ``async with app.lock("name", ttl_s=30):`` (see :mod:`.locks`)."""
        return Lock(
            self.context, name, ttl_s=ttl_s, timeout_s=timeout_s, cancel_on_loss=cancel_on_loss
        )

    def rate_limiter(self, name: str, rate: str) -> RateLimiter:
        """A rate limit shared by all processes (``await limiter.acquire(key)``)."""
        return RateLimiter(self.context, name, rate)

    # ----------------------------------------------------------------- look-ups
    def job(self, job_id: str, queue: str | None = None) -> Job[Any]:
        """A handle on an existing job (results, status) by its id."""
        return Job(self.context, job_id, queue or self.default_queue)

    async def cancel(self, job_id: str, queue: str | None = None) -> bool:
        """Cancel a job by its id (see :meth:`Job.cancel`): True if cancelled now, False if it
        had finished; :class:`JobNotFound` for an unknown job."""
        return await self.job(job_id, queue).cancel()

    def dead_letters(self, queue: str | None = None) -> DeadLetters:
        """The dead-letter stream of a queue: list, get, replay, purge."""
        return DeadLetters(self.context, queue or self.default_queue)

    async def known_queues(self) -> list[str]:
        """The queues registered on the server (every queue a producer has enqueued to)."""
        return await admin.known_queues(self.context)

    async def pause(self, queue: str) -> bool:
        """Pause a queue: within a second its workers start none of its jobs (running ones
        finish); enqueues still succeed. False if it was paused already."""
        return await pausing.pause(self.context, queue)

    async def resume(self, queue: str) -> bool:
        """Resume a paused queue (its workers take jobs again at once). False if not paused."""
        return await pausing.resume(self.context, queue)

    def task_queues(self) -> set[str]:
        """The queues this app's tasks go to by default."""
        return {t.settings.queue for t in self.tasks.values()}

    def run(self, coro: Callable[[], Awaitable[T]]) -> T:
        """Convenience for scripts: connect, run ``coro()``, close."""

        async def main() -> T:
            async with self:
                return await coro()

        return asyncio.run(main())
