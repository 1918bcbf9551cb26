"""The client side: the task registry, connections, enqueueing and job look-ups."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, overload

from redis import exceptions as rex
from redis.asyncio import Redis

from rq_stream import validate
from rq_stream.backends.base import Backend, NewJob
from rq_stream.backends.streams import StreamsBackend
from rq_stream.client.dead_letters import DeadLetters
from rq_stream.client.job import Job
from rq_stream.client.results import Results
from rq_stream.client.task import Call, P, R, Task, default_name
from rq_stream.codec import DEFAULT_MAX_PAYLOAD_BYTES, encode_job
from rq_stream.connect import connection, topology
from rq_stream.connect.connection import ConnectionSettings
from rq_stream.connect.lean import LeanClient
from rq_stream.connect.notify import Channels
from rq_stream.connect.topology import Topology
from rq_stream.errors import ConfigurationError, EnqueueError, UnknownTask
from rq_stream.keys import AppKeys
from rq_stream.options import Backoff, TaskOptions
from rq_stream.patterns.cache import Cached, cached
from rq_stream.patterns.locks import Lock
from rq_stream.patterns.ratelimit import RateLimiter, parse_rate
from rq_stream.patterns.unique import unique_key
from rq_stream.scripts import RedisRunner, ScriptRunner, Scripts

BackendKind = Literal["streams", "lists"]
T = TypeVar("T")
_ENQUEUE_CHUNK = 1000


class _TaskDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    backend: BackendKind = "streams"


def default_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _target_url(
    url: str | None,
    cluster_nodes: Sequence[str | tuple[str, int]] | None,
    sentinels: Sequence[str | tuple[str, int]] | None,
    service_name: str | None,
) -> str:
    """One URL for every deployment (see :mod:`rq_stream.connect.topology`)."""
    given = [name for name, v in (("url", url), ("cluster_nodes", cluster_nodes),
                                  ("sentinels", sentinels)) if v]  # fmt: skip
    if len(given) > 1:
        raise ConfigurationError(f"give only one of url, cluster_nodes, sentinels (got {given})")
    if cluster_nodes:
        return topology.cluster_url(cluster_nodes)
    if sentinels:
        if not service_name:
            raise ConfigurationError("sentinels need the service_name of the master to follow")
        return topology.sentinel_url(sentinels, service_name)
    if service_name:
        raise ConfigurationError("service_name is only for sentinels=[...]")
    return url or default_url()


def _check_replicas(wait_replicas: int, where: Topology) -> None:
    if wait_replicas < 0:
        raise ConfigurationError(f"wait_replicas must be >= 0, got {wait_replicas!r}")
    if wait_replicas and where.kind == "cluster":
        raise ConfigurationError(
            f"wait_replicas is not supported on Redis Cluster yet (wait_replicas="
            f"{wait_replicas}, url {connection.describe(where.url)}): use wait_replicas=0 "
            "there, or a single server or Sentinel URL"
        )


class RqStream:
    """An application: its tasks, its Redis and its queues.

    ``url`` defaults to ``$REDIS_URL`` or ``redis://127.0.0.1:6379/0``; a Redis Cluster is
    ``cluster_nodes=["host:port", ...]`` (or a ``redis+cluster://`` URL), a Sentinel-managed
    master ``sentinels=[("host", 26379), ...], service_name="mymaster"`` (or a
    ``redis+sentinel://`` URL; see :mod:`rq_stream.connect.topology`). ``wait_replicas=N`` makes
    every enqueue wait (``WAIT``, up to ``wait_timeout_ms``) until N replicas have the job. All keys
    start with ``prefix``. ``lease_s`` is how long a job may go without its worker's renewal
    before another worker takes it over (the worker's event loop renews it every third of it,
    so only dead or stalled workers lose jobs; GIL-holding code belongs in ``process=True``).
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
    ) -> None:
        self._redis: Redis | None = None
        self._blocking: Redis | None = None
        self._lean: LeanClient | None = None
        self._known_queues: set[str] = set()
        self._wait_replicas = 0
        self.url = _target_url(url, cluster_nodes, sentinels, service_name)  # sets topology
        self.wait_replicas = wait_replicas
        connection.require_positive("wait_timeout_ms", wait_timeout_ms)
        self.wait_timeout_ms = wait_timeout_ms
        if not prefix or any(c in prefix for c in "{} "):
            raise ConfigurationError(
                f"prefix must be non-empty without braces or spaces: {prefix!r}"
            )
        connection.require_positive("lease_s", lease_s)
        connection.require_positive("max_payload_bytes", max_payload_bytes)
        self.prefix = prefix
        self.keys = AppKeys(prefix)
        self.default_queue = default_queue
        self.max_payload_bytes = max_payload_bytes
        self.lease_s = lease_s
        self.connection_settings = connection_settings or ConnectionSettings()
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.queues: dict[str, QueueConfig] = {}
        self._scripts: Scripts | None = None
        self._results: Results | None = None
        self._producers: dict[str, Backend] = {}
        self._channels: Channels | None = None

    # ----------------------------------------------------------------- where Redis is
    @property
    def url(self) -> str:
        """The Redis URL in force. Setting it (as the CLI's ``--url`` does) validates it,
        re-derives :attr:`topology` and re-checks ``wait_replicas``; clients, the lean client
        and the script runner are built from it on first use, so it is refused while the app
        holds clients (``await app.close()`` first)."""
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        self._refuse_while_connected("url")
        connection.validate_url(value)
        where = topology.parse(value)
        _check_replicas(self._wait_replicas, where)
        self._url, self._topology = value, where
        self._known_queues.clear()  # queues registered on the previous server

    @property
    def topology(self) -> Topology:
        """Where :attr:`url` points: one server, a Redis Cluster or a Sentinel-managed master."""
        return self._topology

    @property
    def wait_replicas(self) -> int:
        """Replicas every enqueue waits for (``WAIT``); refused on a Redis Cluster."""
        return self._wait_replicas

    @wait_replicas.setter
    def wait_replicas(self, value: int) -> None:
        self._refuse_while_connected("wait_replicas")
        _check_replicas(value, self._topology)
        self._wait_replicas = value

    def _refuse_while_connected(self, what: str) -> None:
        if self._redis is not None or self._blocking is not None or self._lean is not None:
            raise ConfigurationError(
                f"cannot change {what} while the app has clients for "
                f"{connection.describe(self._url)}: await app.close() first"
            )

    # ----------------------------------------------------------------- registration
    def queue(self, name: str, *, backend: BackendKind = "streams") -> QueueConfig:
        """Declare a queue's backend (``"streams"``, the default, or ``"lists"``)."""
        if backend not in ("streams", "lists"):
            raise ConfigurationError(f"unknown backend {backend!r}: use 'streams' or 'lists'")
        if problem := validate.queue("queue name", name):
            raise ConfigurationError(problem)
        config = QueueConfig(name, backend)
        self.queues[name] = config
        return config

    def queue_config(self, name: str) -> QueueConfig:
        return self.queues.get(name) or QueueConfig(name)

    @overload
    def task(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...
    @overload
    def task(
        self,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        result_ttl_s: int = 3600,
        retries: int = 0,
        backoff: Backoff | None = None,
        no_retry_on: tuple[type[BaseException], ...] = (),
        timeout_s: float | None = None,
        lease_s: float | None = None,
        max_attempts: int | None = None,
        rate_limit: str | None = None,
        rate_key: Callable[..., Any] | None = None,
        unique: bool | Callable[..., Any] = False,
        unique_ttl_s: int = 86_400,
        process: bool = False,
    ) -> _TaskDecorator: ...

    def task(
        self,
        fn: Any = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        result_ttl_s: int = 3600,
        retries: int = 0,
        backoff: Backoff | None = None,
        no_retry_on: tuple[type[BaseException], ...] = (),
        timeout_s: float | None = None,
        lease_s: float | None = None,
        max_attempts: int | None = None,
        rate_limit: str | None = None,
        rate_key: Callable[..., Any] | None = None,
        unique: bool | Callable[..., Any] = False,
        unique_ttl_s: int = 86_400,
        process: bool = False,
    ) -> Any:
        """Register a task: ``@app.task`` or ``@app.task(queue="emails", retries=3)``.

        ``rate_limit="100/m"`` caps starts across all workers (``rate_key`` makes it per key);
        ``unique=True`` (or a key function) makes a duplicate enqueue return the live job;
        ``process=True`` runs a plain ``def`` in a worker subprocess (CPU-bound, GIL-holding).
        """
        settings: dict[str, Any] = {
            "name": name,
            "queue": queue,
            "result_ttl_s": result_ttl_s,
            "retries": retries,
            "backoff": backoff,
            "no_retry_on": tuple(no_retry_on),
            "timeout_s": timeout_s,
            "lease_s": lease_s,
            "max_attempts": max_attempts,
            "rate_limit": rate_limit,
            "rate_key": rate_key,
            "unique": unique,
            "unique_ttl_s": unique_ttl_s,
            "process": process,
        }

        def register(f: Callable[..., Any]) -> Task[Any, Any]:
            options = self._task_options(f, settings)
            if options.name in self.tasks:
                raise ConfigurationError(f"a task named {options.name!r} is already registered")
            handle: Task[Any, Any] = Task(self, f, options)
            self.tasks[options.name] = handle
            return handle

        return register(fn) if fn is not None else register

    def _task_options(self, f: Callable[..., Any], settings: dict[str, Any]) -> TaskOptions:
        name = settings.pop("name", None) or default_name(f)
        queue = settings.pop("queue", None) or self.default_queue
        if settings.get("backoff") is None:
            settings.pop("backoff", None)
        options = TaskOptions(name=name, queue=queue, **settings)  # checks every setting
        if options.rate_limit is not None:
            parse_rate(options.rate_limit)  # raises ConfigurationError with the syntax
        elif options.rate_key is not None:
            raise ConfigurationError("rate_key needs a rate_limit (e.g. rate_limit='10/s')")
        if options.process:
            from rq_stream.worker.processes import reference

            reference(name, f)  # raises ConfigurationError if a subprocess could not find it
        return options

    def get_task(self, name: str) -> Task[Any, Any]:
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise UnknownTask(f"no task named {name!r} is registered (known: {known})") from None

    # ----------------------------------------------------------------- connections
    @property
    def redis(self) -> Redis:
        """The client for short commands (created on first use)."""
        if self._redis is None:
            self._redis = connection.make_client(self.url, self.connection_settings)
        return self._redis

    @property
    def blocking_redis(self) -> Redis:
        """A separate pool for blocking reads."""
        if self._blocking is None:
            self._blocking = connection.make_client(
                self.url, self.connection_settings, blocking=True
            )
        return self._blocking

    @property
    def lean(self) -> LeanClient:
        """The pipelined client the hot paths (every Lua script) use, on a single server."""
        if self.topology.kind != "single":
            raise ConfigurationError(
                f"the lean client speaks to one server; on {self.topology.kind} scripts run "
                "through app.redis (app.scripts picks the right one)"
            )
        if self._lean is None:
            settings = self.connection_settings
            self._lean = LeanClient(
                self.url,
                socket_timeout_s=settings.socket_timeout_s,
                connect_timeout_s=settings.connect_timeout_s,
                keepalive=connection.keepalive(settings),
            )
        return self._lean

    @property
    def scripts(self) -> Scripts:
        """Scripts run on the lean client on one server; through redis-py on a Cluster (which
        routes each by its keys' slot) or behind Sentinel (the master client follows failovers)."""
        if self._scripts is None:
            runner: ScriptRunner | LeanClient = (
                self.lean if self.topology.kind == "single" else RedisRunner(self.redis)
            )
            self._scripts = Scripts(
                runner,
                self.connection_settings.retries,
                wait_replicas=self.wait_replicas,
                wait_timeout_ms=self.wait_timeout_ms,
            )
        return self._scripts

    @property
    def results(self) -> Results:
        if self._results is None:
            self._results = Results(self.redis, self.keys, self.channels, self.scripts)
        return self._results

    @property
    def channels(self) -> Channels:
        """The shared pub/sub connection that lock and cache waiters listen on."""
        if self._channels is None:
            self._channels = Channels(self.redis)
        return self._channels

    async def connect(self) -> None:
        """Check that Redis answers; raises :class:`ConnectionFailed` with the reason."""
        await connection.ping(self.redis, self.url)
        if self.topology.kind == "cluster":
            # Load the slot map and command table of the blocking client now: redis-py's first
            # concurrent XREADGROUPs (keys found with COMMAND GETKEYS) race on a fresh client.
            await connection.ping(self.blocking_redis, self.url)

    async def close(self) -> None:
        self._results = None
        if self._channels is not None:
            await self._channels.close()
            self._channels = None
        for client in (self._redis, self._blocking):
            if client is not None:
                await connection.close_client(client)
        if self._lean is not None:
            await self._lean.aclose()
        self._redis = self._blocking = None
        self._lean = None
        self._scripts = None
        self._producers.clear()

    async def __aenter__(self) -> RqStream:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def backend(self, queue: str, consumer: str = "producer") -> Backend:
        """The backend object of a queue (the worker makes its own, with its consumer name)."""
        config = self.queue_config(queue)
        k = self.keys.queue(queue)
        if config.backend == "lists":
            from rq_stream.backends.lists import ListsBackend

            return ListsBackend(self.redis, self.blocking_redis, self.scripts, k, consumer)
        return StreamsBackend(self.redis, self.blocking_redis, self.scripts, k, consumer)

    def _producer(self, queue: str) -> Backend:
        backend = self._producers.get(queue)
        if backend is None:
            backend = self._producers[queue] = self.backend(queue)
        return backend

    # ----------------------------------------------------------------- enqueue
    async def enqueue_many(self, calls: Iterable[Call[Any]]) -> list[Job[Any]]:
        """Enqueue many jobs in one round trip per queue (queues in parallel).

        ``await app.enqueue_many([add.call(1, 2), add.options(delay_s=5).call(3, 4)])``
        A job whose id already exists is not enqueued again: its handle is returned instead.
        """
        now_ms = int(time.time() * 1000)
        by_queue: dict[str, list[NewJob]] = {}
        jobs: list[Job[Any]] = []
        for c in calls:
            job, new = self._prepare(c, now_ms)
            by_queue.setdefault(job.queue, []).append(new)
            jobs.append(job)
        if not jobs:
            return jobs
        try:
            await self._register_queues(by_queue)
            if len(by_queue) == 1:
                ((queue, items),) = by_queue.items()
                replies = {queue: await self._enqueue_queue(queue, items)}
            else:
                queues = list(by_queue)
                got = await asyncio.gather(*(self._enqueue_queue(q, by_queue[q]) for q in queues))
                replies = dict(zip(queues, got, strict=True))
        except (rex.RedisError, OSError) as exc:
            translated = connection.translate(exc, self.url)
            if translated is exc:
                raise
            raise translated from exc
        # A unique job identical to a live one was not enqueued: hand back the live one.
        if not any(isinstance(r, str) for rs in replies.values() for r in rs):
            return jobs
        seen = dict.fromkeys(replies, 0)
        for i, job in enumerate(jobs):
            reply = replies[job.queue][seen[job.queue]]
            seen[job.queue] += 1
            if isinstance(reply, str):
                jobs[i] = Job(self, reply, job.queue)
        return jobs

    def _prepare(self, c: Call[Any], now_ms: int) -> tuple[Job[Any], NewJob]:
        task, o = c.task, c.job_options
        if task.app is not self:
            raise EnqueueError(f"task {task.name!r} belongs to another RqStream application")
        task.check_arguments(c.args, c.kwargs)
        queue = o.queue or task.settings.queue
        job_id = o.job_id or os.urandom(16).hex()  # as unique as uuid4, a quarter of its cost
        payload = encode_job(
            job_id, task.name, c.args, c.kwargs, now_ms, o.result_ttl_s, self.max_payload_bytes
        )
        delay_ms = int(o.delay_s * 1000) if o.delay_s else 0
        at_ms = int(o.at.timestamp() * 1000) if o.at is not None else 0
        ukey = unique_key(task, queue, c.args, c.kwargs) if task.settings.unique else ""
        new = NewJob(job_id, task.name, payload, delay_ms, at_ms, ukey, task.settings.unique_ttl_s)
        return Job(self, job_id, queue), new

    async def _enqueue_queue(self, queue: str, items: Sequence[NewJob]) -> list[bool | str]:
        """Chunks keep each script short; sent together they pipeline on the one lean connection,
        which keeps their order (and so the queue's FIFO order)."""
        backend = self._producer(queue)
        chunks = [items[i : i + _ENQUEUE_CHUNK] for i in range(0, len(items), _ENQUEUE_CHUNK)]
        if len(chunks) == 1:
            return list(await backend.enqueue(chunks[0]))
        replies = await asyncio.gather(*(backend.enqueue(chunk) for chunk in chunks))
        return [reply for chunk_replies in replies for reply in chunk_replies]

    async def _register_queues(self, queues: Iterable[str]) -> None:
        new = [q for q in queues if q not in self._known_queues]
        if new:
            await self.redis.sadd(self.keys.queues, *new)
            for q in new:
                await self._producer(q).prepare()
            self._known_queues.update(new)

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
        return cached(self, ttl_s=ttl_s, key=key, namespace=namespace, lock_ttl_s=lock_ttl_s,
                      wait_s=wait_s, redis_stats=redis_stats)  # fmt: skip

    def lock(
        self,
        name: str,
        *,
        ttl_s: float = 30.0,
        timeout_s: float | None = None,
        cancel_on_loss: bool = False,
    ) -> Lock:
        """A distributed lock: ``async with app.lock("name", ttl_s=30):`` (see :mod:`.locks`)."""
        return Lock(self, name, ttl_s=ttl_s, timeout_s=timeout_s, cancel_on_loss=cancel_on_loss)

    def rate_limiter(self, name: str, rate: str) -> RateLimiter:
        """A rate limit shared by all processes (``await limiter.acquire(key)``)."""
        return RateLimiter(self, name, rate)

    # ----------------------------------------------------------------- look-ups
    def job(self, job_id: str, queue: str | None = None) -> Job[Any]:
        """A handle on an existing job (results, status) by its id."""
        return Job(self, job_id, queue or self.default_queue)

    def dead_letters(self, queue: str | None = None) -> DeadLetters:
        """The dead-letter stream of a queue: list, get, replay, purge."""
        return DeadLetters(self, queue or self.default_queue)

    async def known_queues(self) -> list[str]:
        names = await self.redis.smembers(self.keys.queues)
        return sorted(n.decode() for n in names)

    def run(self, coro: Callable[[], Awaitable[T]]) -> T:
        """Convenience for scripts: connect, run ``coro()``, close."""

        async def main() -> T:
            async with self:
                return await coro()

        return asyncio.run(main())
