"""The application's settings as read-only (or validated) attributes of ``RqStream``: a mixin
kept beside the facade so that ``client/app.py`` holds the registry and the look-ups."""

from __future__ import annotations

from typing import Any

from rq_stream.connect.connection import ConnectionSettings
from rq_stream.connect.topology import Topology
from rq_stream.context import Context
from rq_stream.keys import AppKeys
from rq_stream.payloads import Payloads
from rq_stream.serializers import Serializer
from rq_stream.settings import Settings


class AppSettings:
    """``RqStream``'s settings, read through its :class:`Context`."""

    context: Context

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
