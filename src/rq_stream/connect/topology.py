"""Where Redis is: one server, a Redis Cluster, or a master watched by Sentinels.

Every deployment is named by one URL string (so a worker subprocess gets it from ``REDIS_URL``):

- ``redis://host:port/db``, ``rediss://...``, ``unix:///path.sock``: one server.
- ``redis+cluster://[user:password@]host:port,host:port/`` (``rediss+cluster://`` for TLS): a
  Redis Cluster; the nodes listed are only where discovery starts.
- ``redis+sentinel://host:port,host:port/service_name[/db]`` (``rediss+sentinel://``): the master
  that the Sentinels name ``service_name``; ``user:password@`` is for the master (the Sentinels
  themselves are contacted without credentials).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from rq_stream.errors import ConnectionFailed

Kind = Literal["single", "cluster", "sentinel"]
Address = tuple[str, int]

SINGLE_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


@dataclass(frozen=True, slots=True)
class Topology:
    kind: Kind
    url: str
    nodes: tuple[Address, ...] = ()
    """Cluster start-up nodes, or the Sentinels."""
    service_name: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False


def kind_of(url: str) -> Kind:
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return "cluster"
    if scheme in SENTINEL_SCHEMES:
        return "sentinel"
    return "single"


def parse(url: str) -> Topology:
    """The topology a URL names; raises :class:`ConnectionFailed` saying what is wrong."""
    kind = kind_of(url)
    if kind == "single":
        return Topology("single", url)
    scheme, _, rest = url.partition("://")
    if "?" in rest:
        raise ConnectionFailed(
            f"invalid Redis URL {url!r}: ?options are not supported on "
            f"{kind} URLs yet (TLS there verifies against the system CAs)"
        )
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes = tuple(_address(url, part) for part in hosts.split(",") if part)
    if not nodes:
        raise ConnectionFailed(f"invalid Redis URL {url!r}: no host:port listed")
    ssl = scheme.lower().startswith("rediss")
    if kind == "cluster":
        if path.strip("/") not in ("", "0"):
            raise ConnectionFailed(f"invalid Redis URL {url!r}: a cluster has only database 0")
        return Topology("cluster", url, nodes, username=username, password=password, ssl=ssl)
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ConnectionFailed(
            f"invalid Redis URL {url!r}: name the service after the Sentinels "
            "(redis+sentinel://host:26379,host:26380/mymaster)"
        )
    if db and not db.isdigit():
        raise ConnectionFailed(f"invalid Redis URL {url!r}: the database {db!r} is not a number")
    return Topology("sentinel", url, nodes, unquote(service), int(db or 0), username, password, ssl)


def _address(url: str, text: str) -> Address:
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ConnectionFailed(f"invalid Redis URL {url!r}: {text!r} is not host:port")
    return host.strip("[]"), int(port)


def _addresses(items: Iterable[str | Address]) -> list[Address]:
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(_address(item, item))
        else:
            host, port = item
            out.append((str(host), int(port)))
    return out


def cluster_url(nodes: Sequence[str | Address], *, ssl: bool = False) -> str:
    """``redis+cluster://`` URL for start-up nodes given as ``"host:port"`` or ``(host, port)``."""
    hosts = ",".join(f"{h}:{p}" for h, p in _addresses(nodes))
    return f"{'rediss' if ssl else 'redis'}+cluster://{hosts}/"


def sentinel_url(
    sentinels: Sequence[str | Address], service_name: str, db: int = 0, *, ssl: bool = False
) -> str:
    """``redis+sentinel://`` URL for Sentinels given as ``"host:port"`` or ``(host, port)``."""
    hosts = ",".join(f"{h}:{p}" for h, p in _addresses(sentinels))
    return f"{'rediss' if ssl else 'redis'}+sentinel://{hosts}/{service_name}/{db}"
