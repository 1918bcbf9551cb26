"""The application's settings and clients as attributes (``app.url``, ``app.redis``...): a thin
view of its :class:`~rq_stream.context.Context`, which owns them."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from rq_stream.client.results import Results
from rq_stream.connect.connection import ConnectionSettings
from rq_stream.connect.lean import LeanClient
from rq_stream.connect.notify import Channels
from rq_stream.connect.topology import Topology
from rq_stream.context import Context
from rq_stream.keys import AppKeys
from rq_stream.payloads import Payloads
from rq_stream.scripts import Scripts
from rq_stream.serializers import Serializer
from rq_stream.settings import Settings


class ContextView:
    """Settings are read-only but ``url``, ``prefix`` and ``wait_replicas``, which build new
    :class:`Settings` (refused while the app holds clients)."""

    context: Context

    # ----------------------------------------------------------------- settings
    @property
    def settings(self) -> Settings:
        return self.context.settings

    def _set(self, what: str, **changes: Any) -> None:
        self.context.reconfigure(self.settings.but(**changes), what)

    @property
    def url(self) -> str:
        """The Redis URL in force. Setting it (as the CLI's ``--url`` does) validates it,
        re-derives :attr:`topology` and re-checks ``wait_replicas``; clients, the lean client
        and the script runner are built from it on first use, so it is refused while the app
        holds clients (``await app.close()`` first)."""
        return self.settings.url

    @url.setter
    def url(self, value: str) -> None:
        self._set("url", url=value)

    @property
    def wait_replicas(self) -> int:
        """Replicas every enqueue waits for (``WAIT``); refused on a Redis Cluster."""
        return self.settings.wait_replicas

    @wait_replicas.setter
    def wait_replicas(self, value: int) -> None:
        self._set("wait_replicas", wait_replicas=value)

    @property
    def prefix(self) -> str:
        return self.settings.prefix

    @prefix.setter
    def prefix(self, value: str) -> None:
        self._set("prefix", prefix=value)

    @property
    def topology(self) -> Topology:
        """Where :attr:`url` points: one server, a Redis Cluster or a Sentinel-managed master."""
        return self.settings.topology

    @property
    def keys(self) -> AppKeys:
        return self.context.keys

    @property
    def default_queue(self) -> str:
        return self.settings.default_queue

    @property
    def max_payload_bytes(self) -> int:
        return self.settings.max_payload_bytes

    @property
    def lease_s(self) -> float:
        return self.settings.lease_s

    @property
    def serializer(self) -> Serializer:
        return self.settings.serializer

    @property
    def payloads(self) -> Payloads:
        """How this app's jobs and results are encoded (chosen once from its serializer)."""
        return self.context.payloads

    @property
    def connection_settings(self) -> ConnectionSettings:
        return self.settings.connection

    @property
    def wait_timeout_ms(self) -> int:
        return self.settings.wait_timeout_ms

    # ----------------------------------------------------------------- connections
    @property
    def redis(self) -> Redis:
        """The client for short commands (created on first use)."""
        return self.context.redis

    @property
    def blocking_redis(self) -> Redis:
        """A separate pool for blocking reads."""
        return self.context.blocking_redis

    @property
    def lean(self) -> LeanClient:
        """The pipelined client the hot paths (every Lua script) use, on a single server."""
        return self.context.lean

    @property
    def scripts(self) -> Scripts:
        return self.context.scripts

    @property
    def channels(self) -> Channels:
        """The shared pub/sub connection that result, lock and cache waiters listen on."""
        return self.context.channels

    @property
    def results(self) -> Results:
        return Results(self.context)
