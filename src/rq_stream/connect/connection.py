"""Redis clients with explicit timeouts, retries and pool sizes (redis-py's defaults move).

Two pools per application: one for short commands (enqueue, scripts, acks) and one for blocking
reads, so a worker's ``XREADGROUP BLOCK`` never holds up an enqueue or an ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlparse

import structlog
from redis import exceptions as rex
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff

from rq_stream.connect import topology
from rq_stream.connect.lean import keepalive_options
from rq_stream.errors import ConfigurationError, ConnectionFailed, RedisOutOfMemory, RqStreamError

log = structlog.get_logger("rq_stream.connection")

_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    socket_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    retries: int = 3
    max_connections: int = 64
    block_ms: int = 2000
    """Longest a blocking read waits server-side; the blocking pool's socket timeout is above it."""
    keepalive_idle_s: int = 60
    keepalive_interval_s: int = 10
    keepalive_count: int = 3
    """TCP keepalive on every connection: a peer silent for ``keepalive_idle_s`` is probed every
    ``keepalive_interval_s``; after ``keepalive_count`` unanswered probes the connection is
    dropped (a NAT or firewall that forgets an idle connection is noticed, not waited on)."""


def keepalive(settings: ConnectionSettings) -> dict[int, int]:
    """The TCP keepalive options (those this platform has) for ``settings``."""
    return keepalive_options(
        settings.keepalive_idle_s, settings.keepalive_interval_s, settings.keepalive_count
    )


def validate_url(url: str) -> None:
    if topology.kind_of(url) != "single":
        topology.parse(url)  # raises ConnectionFailed saying what is wrong
        return
    parsed = urlparse(url)
    if parsed.scheme not in _SCHEMES:
        raise ConnectionFailed(
            f"invalid Redis URL {url!r}: it must start with redis://, rediss:// or unix:// "
            "(for example redis://127.0.0.1:6379/0), or redis+cluster:// or redis+sentinel://"
        )
    if parsed.scheme != "unix" and not parsed.hostname:
        raise ConnectionFailed(f"invalid Redis URL {url!r}: no host name")
    try:
        _ = parsed.port
    except ValueError:
        raise ConnectionFailed(f"invalid Redis URL {url!r}: the port is not a number") from None


def _pool(url: str, settings: ConnectionSettings, *, blocking: bool) -> ConnectionPool:
    kwargs: dict[str, Any] = {
        "socket_timeout": _socket_timeout(settings, blocking=blocking),
        "socket_connect_timeout": settings.connect_timeout_s,
        "socket_keepalive": True,
        "socket_keepalive_options": keepalive(settings),
        "max_connections": settings.max_connections,
        "protocol": 2,
        "health_check_interval": 30,
    }
    try:
        return ConnectionPool.from_url(url, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConnectionFailed(f"invalid Redis URL {url!r}: {exc}") from None


def _retry(settings: ConnectionSettings) -> Retry:
    return Retry(
        ExponentialWithJitterBackoff(cap=1.0, base=0.05),
        settings.retries,
        supported_errors=(rex.ConnectionError, rex.TimeoutError),
    )


def make_client(url: str, settings: ConnectionSettings, *, blocking: bool = False) -> Redis:
    """A client for ``url``: one server, a Redis Cluster or a Sentinel-managed master.

    A cluster client (``RedisCluster``) offers the same command methods as ``Redis`` and routes
    each command by its key, so it is handed out typed as ``Redis`` (see ``topology.py``)."""
    validate_url(url)
    where = topology.parse(url)
    if where.kind == "cluster":
        return cast(Redis, _cluster_client(where, settings, blocking=blocking))
    if where.kind == "sentinel":
        return _sentinel_client(where, settings, blocking=blocking)
    return Redis(connection_pool=_pool(url, settings, blocking=blocking), retry=_retry(settings))


def _socket_timeout(settings: ConnectionSettings, *, blocking: bool) -> float:
    if blocking:
        return max(settings.socket_timeout_s, settings.block_ms / 1000 + 5.0)
    return settings.socket_timeout_s


def _cluster_client(
    where: topology.Topology, settings: ConnectionSettings, *, blocking: bool
) -> RedisCluster:
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in where.nodes],
        username=where.username,
        password=where.password,
        ssl=where.ssl,
        socket_timeout=_socket_timeout(settings, blocking=blocking),
        socket_connect_timeout=settings.connect_timeout_s,
        socket_keepalive=True,
        socket_keepalive_options=keepalive(settings),
        max_connections=settings.max_connections,
        protocol=2,
        retry=_retry(settings),
    )


def _sentinel_client(
    where: topology.Topology, settings: ConnectionSettings, *, blocking: bool
) -> Redis:
    sentinel = Sentinel(
        list(where.nodes),
        sentinel_kwargs={
            "socket_timeout": settings.connect_timeout_s,
            "socket_connect_timeout": settings.connect_timeout_s,
            "socket_keepalive": True,
            "socket_keepalive_options": keepalive(settings),
        },
    )
    return sentinel.master_for(
        where.service_name,
        db=where.db,
        username=where.username,
        password=where.password,
        ssl=where.ssl,
        socket_timeout=_socket_timeout(settings, blocking=blocking),
        socket_connect_timeout=settings.connect_timeout_s,
        socket_keepalive=True,
        socket_keepalive_options=keepalive(settings),
        max_connections=settings.max_connections,
        protocol=2,
        health_check_interval=30,
        retry=_retry(settings),
    )


async def close_client(client: Redis) -> None:
    """Close a client, and for a Sentinel master client the connections to the Sentinels."""
    await client.aclose()
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


async def ping(client: Redis, url: str) -> None:
    try:
        await client.ping()
    except rex.AuthenticationError as exc:
        raise ConnectionFailed(f"Redis at {describe(url)} refused the credentials: {exc}") from None
    except rex.ResponseError as exc:
        raise ConnectionFailed(f"Redis at {describe(url)} answered PING with: {exc}") from None
    except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
        if not is_connection_error(exc):
            raise
        text = str(exc).rstrip(".")
        hint = (
            "Does the URL's ssl_ca_certs name the CA that signed the server's certificate?"
            if "CERTIFICATE_VERIFY_FAILED" in text
            else "Is redis-server running, and is the URL right?"
        )
        raise ConnectionFailed(
            f"cannot connect to Redis at {describe(url)}: {text}. {hint}"
        ) from None


async def maxmemory_policy(client: Redis) -> str | None:
    """The server's eviction policy (CONFIG GET, falling back to INFO when CONFIG is renamed)."""
    try:
        reply = await client.config_get("maxmemory-policy")
        value = reply.get(b"maxmemory-policy") or reply.get("maxmemory-policy")
        if value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
    except rex.ResponseError:
        pass
    try:
        info = await client.info("memory")
    except rex.ResponseError:
        return None
    value = info.get("maxmemory_policy")
    return None if value is None else str(value)


async def warn_unless_noeviction(client: Redis) -> str | None:
    policy = await maxmemory_policy(client)
    if policy is not None and policy != "noeviction":
        log.warning(
            "redis maxmemory-policy is not noeviction: Redis may EVICT queued jobs, leases and "
            "locks under memory pressure. Set `maxmemory-policy noeviction` on this server.",
            maxmemory_policy=policy,
        )
    return policy


@contextlib.contextmanager
def translated(url: str) -> Iterator[None]:
    """Raise redis-py's connection, out-of-memory and read-only errors as :func:`translate`
    does (``ConnectionFailed``, ``RedisOutOfMemory``); rq_stream's own errors pass through."""
    try:
        yield
    except RqStreamError:  # ResultTimeout is an OSError too
        raise
    except (rex.RedisError, OSError) as exc:
        better = translate(exc, url)
        if better is exc:
            raise
        raise better from exc


def translate(exc: BaseException, url: str) -> BaseException:
    """Turn a redis-py error met while enqueueing into one a user understands."""
    text = str(exc)
    if is_out_of_memory(exc):
        return RedisOutOfMemory(
            f"Redis at {describe(url)} is out of memory (maxmemory reached) and refused the "
            f"write; the job was NOT enqueued: {text}"
        )
    if is_connection_error(exc):
        return ConnectionFailed(f"lost connection to Redis at {describe(url)}: {exc}")
    if isinstance(exc, rex.ReadOnlyError):
        return ConnectionFailed(f"Redis at {describe(url)} is a read-only replica: {exc}")
    return exc


_SOCKET_ERRORS = (
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,
    asyncio.TimeoutError,  # not TimeoutError before Python 3.11
    socket.gaierror,  # the host name does not resolve
    socket.herror,
    ssl.SSLError,
)
_NETWORK_ERRNO_NAMES = (
    "ENETDOWN", "ENETUNREACH", "ENETRESET", "EHOSTDOWN", "EHOSTUNREACH", "ENOTCONN",
    "EADDRNOTAVAIL", "ETIMEDOUT",
)  # fmt: skip
_NETWORK_ERRNOS = frozenset(getattr(errno, n) for n in _NETWORK_ERRNO_NAMES if hasattr(errno, n))


def is_connection_error(exc: BaseException) -> bool:
    """Redis could not be reached or the connection broke: redis-py's connection errors and the
    socket-level ``OSError``s of connecting, reading and writing. Any other ``OSError`` (a file
    that cannot be read, ...) is not one, and must not be reported as one."""
    if isinstance(exc, (rex.ConnectionError, rex.TimeoutError, *_SOCKET_ERRORS)):
        return True
    return isinstance(exc, OSError) and exc.filename is None and exc.errno in _NETWORK_ERRNOS


def is_out_of_memory(exc: BaseException) -> bool:
    """Redis refused a write at maxmemory (redis-py names the error class only in newer majors)."""
    oom = getattr(rex, "OutOfMemoryError", ())
    text = str(exc)
    return isinstance(exc, rex.ResponseError) and (
        isinstance(exc, oom) or text.startswith("OOM") or "maxmemory" in text
    )


def require_positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value!r}")
