"""The context every part of rq_stream works through: the settings, the key names, the
queues' backends, and the Redis clients chosen once from the topology.

Job handles, results, dead letters, the patterns and the worker all take a :class:`Context`
(never the :class:`~rq_stream.RqStream` facade), so each depends only on what it uses: a
client for short commands, one for blocking reads, the script runner, the pub/sub channels.
Clients are built on first use and dropped by :meth:`Context.close`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from rq_stream.backends.base import Backend
from rq_stream.backends.streams import StreamsBackend
from rq_stream.connect import connection
from rq_stream.connect.lean import LeanClient
from rq_stream.connect.notify import Channels
from rq_stream.connect.topology import Topology
from rq_stream.errors import ConfigurationError
from rq_stream.keys import AppKeys
from rq_stream.payloads import Payloads, payloads_for
from rq_stream.scripts import RedisRunner, ScriptRunner, Scripts
from rq_stream.settings import Settings

BackendKind = Literal["streams", "lists"]


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    backend: BackendKind = "streams"


class Context:
    """Settings, key names, queue declarations and the clients of one application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = AppKeys(settings.prefix)
        self.payloads: Payloads = payloads_for(settings.serializer)
        """How jobs and results are encoded (the settings' serializer), chosen once."""
        self.queues: dict[str, QueueConfig] = {}
        """Declared queues (``app.queue(...)``); any other queue uses the streams backend."""
        self.known_queues: set[str] = set()
        """Queues this process has registered on the server (the producer's cache)."""
        self._redis: Redis | None = None
        self._blocking: Redis | None = None
        self._lean: LeanClient | None = None
        self._scripts: Scripts | None = None
        self._channels: Channels | None = None

    # ----------------------------------------------------------------- settings
    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def topology(self) -> Topology:
        return self.settings.topology

    def reconfigure(self, settings: Settings, what: str) -> None:
        """Swap in new settings; refused while clients built from the old ones are open."""
        if self.connected:
            raise ConfigurationError(
                f"cannot change {what} while the app has clients for "
                f"{connection.describe(self.url)}: await app.close() first"
            )
        if (settings.url, settings.prefix) != (self.settings.url, self.settings.prefix):
            self.known_queues.clear()  # registered on the previous server, or under other keys
        self.settings = settings
        self.keys = AppKeys(settings.prefix)
        self.payloads = payloads_for(settings.serializer)

    @property
    def connected(self) -> bool:
        return self._redis is not None or self._blocking is not None or self._lean is not None

    def fork(self) -> Context:
        """The same settings and queue declarations (shared, not copied) with clients of its own,
        for another event loop: redis-py clients belong to the loop that made them. Every
        client-like attribute must be reset here."""
        twin = copy.copy(self)
        twin.known_queues = set()
        twin._redis = twin._blocking = twin._lean = None
        twin._scripts = twin._channels = None
        return twin

    def queue_config(self, name: str) -> QueueConfig:
        return self.queues.get(name) or QueueConfig(name)

    # ----------------------------------------------------------------- clients
    @property
    def redis(self) -> Redis:
        """The client for short commands (created on first use)."""
        if self._redis is None:
            self._redis = connection.make_client(self.url, self.settings.connection)
        return self._redis

    @property
    def blocking_redis(self) -> Redis:
        """A separate pool for blocking reads."""
        if self._blocking is None:
            self._blocking = connection.make_client(
                self.url, self.settings.connection, blocking=True
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
            settings = self.settings.connection
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
                self.settings.connection.retries,
                wait_replicas=self.settings.wait_replicas,
                wait_timeout_ms=self.settings.wait_timeout_ms,
            )
        return self._scripts

    @property
    def channels(self) -> Channels:
        """The shared pub/sub connection that result, lock and cache waiters listen on."""
        if self._channels is None:
            self._channels = Channels(self.redis)
        return self._channels

    def backend(self, queue: str, consumer: str = "producer") -> Backend:
        """The backend object of a queue (a worker makes its own, with its consumer name)."""
        k = self.keys.queue(queue)
        if self.queue_config(queue).backend == "lists":
            from rq_stream.backends.lists import ListsBackend

            return ListsBackend(self.redis, self.blocking_redis, self.scripts, k, consumer,
                                job_id_of=self.payloads.peek_job_id)  # fmt: skip
        return StreamsBackend(self.redis, self.blocking_redis, self.scripts, k, consumer)

    # ----------------------------------------------------------------- lifecycle
    async def connect(self) -> None:
        """Check that Redis answers; raises :class:`ConnectionFailed` with the reason."""
        await connection.ping(self.redis, self.url)
        if self.topology.kind == "cluster":
            # Load the slot map and command table of the blocking client now: redis-py's first
            # concurrent XREADGROUPs (keys found with COMMAND GETKEYS) race on a fresh client.
            await connection.ping(self.blocking_redis, self.url)

    async def close(self) -> None:
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
