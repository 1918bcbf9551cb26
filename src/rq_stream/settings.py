"""An application's settings: one frozen value, validated once, with the topology derived from
its URL. Changing a setting (the CLI's ``--url``) builds a new value, so nothing derived from an
old URL survives it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rq_stream.codec import DEFAULT_MAX_PAYLOAD_BYTES
from rq_stream.connect import connection, topology
from rq_stream.connect.connection import ConnectionSettings
from rq_stream.connect.topology import Topology
from rq_stream.errors import ConfigurationError
from rq_stream.serializers import MSGPACK, Serializer


def default_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True, slots=True)
class Settings:
    """What an :class:`~rq_stream.RqStream` is configured with (see its docstring)."""

    url: str = field(default_factory=default_url)
    prefix: str = "rqs"
    default_queue: str = "default"
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    lease_s: float = 30.0
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    wait_replicas: int = 0
    wait_timeout_ms: int = 1000
    serializer: Serializer = MSGPACK
    """Job payloads and results (:mod:`rq_stream.serializers`); msgpack by default."""
    topology: Topology = field(init=False, compare=False)
    """Where ``url`` points: one server, a Redis Cluster or a Sentinel-managed master."""

    def __post_init__(self) -> None:
        connection.validate_url(self.url)
        where = topology.parse(self.url)
        object.__setattr__(self, "topology", where)
        _check_replicas(self.wait_replicas, where)
        connection.require_positive("wait_timeout_ms", self.wait_timeout_ms)
        if not self.prefix or any(c in self.prefix for c in "{} "):
            raise ConfigurationError(
                f"prefix must be non-empty without braces or spaces: {self.prefix!r}"
            )
        connection.require_positive("lease_s", self.lease_s)
        connection.require_positive("max_payload_bytes", self.max_payload_bytes)

    def but(self, **changes: Any) -> Settings:
        """These settings with ``changes`` applied (and validated, topology re-derived)."""
        return replace(self, **changes)


def target_url(
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
