"""A lean, auto-pipelining asyncio Redis client for rq_stream's hot paths.

Why: redis-py's asyncio client spends ~100 µs of Python per command (connection pool checkout,
response callbacks, stream readers), which caps one-job-at-a-time enqueueing (one EVALSHA per
job) near 10k/s. ``LeanClient`` keeps ONE connection (an ``asyncio.Protocol``, not streams)
shared by every concurrent caller: each command is packed with ``hiredis.pack_command`` and
written at once (while others are in flight, writes are coalesced until the next loop tick),
replies are parsed by ``hiredis.Reader`` in ``data_received`` and handed FIFO to a deque of
futures, so concurrent callers pipeline without asking to. A client belongs to one event loop.

Errors keep redis-py's classes so existing ``except`` clauses work: ``NoScriptError``,
``OutOfMemoryError`` (``ResponseError`` on redis-py without it), ``ReadOnlyError``,
``AuthenticationError``, ``BusyLoadingError``..., else ``ResponseError`` with the server's text
(the text is kept whole, error code included). Connection loss fails every pending command with
``ConnectionError``; the next command reconnects (once: no retry loop, callers decide). One
timer per connection fails everything pending with ``TimeoutError`` once the oldest command is
older than ``socket_timeout_s``. A cancelled caller's reply is still consumed, then dropped.

The URL is read the way redis-py reads it: ``username``/``password``/``db``, and for
``rediss://`` every ``ssl_*`` option redis-py's ``SSLConnection`` takes (``ssl_cert_reqs``,
``ssl_ca_certs``, ``ssl_ca_path``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_password``,
``ssl_check_hostname``, ``ssl_min_version``, ``ssl_ciphers``...): the TLS context is built by
redis-py itself, so both clients verify the same things. TCP keepalive is on (``SO_KEEPALIVE``
plus the idle/interval/count tuning the platform offers) unless the URL says
``socket_keepalive=false``.

What it does NOT do: RESP3, cluster, sentinel, pub/sub, MULTI/EXEC helpers, reply decoding
(bytes in, bytes out; errors nested in array replies stay ``hiredis.ReplyError`` values), write
flow control, and blocking commands (BLPOP, XREADGROUP BLOCK...): a blocking call would stall
every caller behind it on the shared connection and trip the timeout, so those stay on redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import hiredis
from redis import exceptions as rex
from redis.asyncio.connection import SSLConnection, parse_url

Arg: TypeAlias = bytes | str | int | float


def _py_pack(args: tuple[Arg, ...]) -> bytes:
    """RESP array of bulk strings; fallback for hiredis builds without ``pack_command``."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else (repr(a) if isinstance(a, float) else str(a)).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(out)


_pack: Any = getattr(hiredis, "pack_command", _py_pack)

_ERRORS: dict[str, type[Exception]] = {
    code: getattr(rex, name, rex.ResponseError)
    for code, name in [
        ("NOSCRIPT", "NoScriptError"),
        ("OOM", "OutOfMemoryError"),
        ("READONLY", "ReadOnlyError"),
        ("LOADING", "BusyLoadingError"),
        ("NOAUTH", "AuthenticationError"),
        ("WRONGPASS", "AuthenticationError"),
        ("NOPERM", "NoPermissionError"),
        ("EXECABORT", "ExecAbortError"),
        ("TRYAGAIN", "TryAgainError"),
        ("MASTERDOWN", "MasterDownError"),
    ]
}


def reply_error(err: Exception) -> Exception:
    """The redis-py exception for a server error reply (full server text kept)."""
    text = str(err)
    cls: type[Exception] = _ERRORS.get(text.split(" ", 1)[0], rex.ResponseError)
    return cls(text)


def keepalive_options(idle_s: int = 60, interval_s: int = 10, count: int = 3) -> dict[int, int]:
    """TCP keepalive tuning (``IPPROTO_TCP`` level), for the options this platform has: probe
    after ``idle_s`` of silence, every ``interval_s``, drop the peer after ``count`` misses."""
    wanted = [("TCP_KEEPIDLE", idle_s), ("TCP_KEEPINTVL", interval_s), ("TCP_KEEPCNT", count)]
    if not hasattr(socket, "TCP_KEEPIDLE"):
        wanted.append(("TCP_KEEPALIVE", idle_s))  # macOS names the idle time TCP_KEEPALIVE
    return {getattr(socket, name): value for name, value in wanted if hasattr(socket, name)}


def tls_context(url: str) -> ssl.SSLContext | None:
    """The SSL context redis-py builds for a ``rediss://`` URL (None for other URLs).

    redis-py's own ``SSLConnection`` takes the URL's ``ssl_*`` options, with its defaults
    (``ssl_cert_reqs=required``, hostname checked), so whatever the installed redis-py honours,
    and how it reads it, the lean client honours too. Raises ``ValueError`` for options it
    does not take and ``OSError`` for unreadable certificate or key files."""
    opts: dict[str, Any] = dict(parse_url(url))
    connection_class = opts.get("connection_class")
    if connection_class is not SSLConnection:
        return None
    tls = {k: v for k, v in opts.items() if k.startswith("ssl_")}
    try:
        context: ssl.SSLContext = connection_class(**tls).ssl_context.get()
    except (TypeError, rex.RedisError) as exc:
        raise ValueError(f"unusable TLS options in the Redis URL: {exc}") from None
    return context


def _set_keepalive(transport: asyncio.BaseTransport, options: Mapping[int, int]) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in options.items():
        sock.setsockopt(socket.IPPROTO_TCP, option, value)


class LeanScript:
    """A Lua script known by its SHA1; ``LeanClient.evalsha`` loads it when the server lacks it."""

    def __init__(self, source: str | bytes) -> None:
        self.source = source.encode() if isinstance(source, str) else source
        self.sha = hashlib.sha1(self.source).hexdigest().encode()


class _Conn(asyncio.Protocol):
    """One connection: writes commands, matches replies FIFO, enforces the socket timeout."""

    def __init__(self, address: str, timeout_s: float | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.address = address
        self.timeout_s = timeout_s
        self.reader = hiredis.Reader()
        self.pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.timer: asyncio.TimerHandle | None = None
        self.wbuf: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, args: tuple[Arg, ...]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = self.loop.create_future()
        if self.closed or self.transport is None:
            fut.set_exception(rex.ConnectionError(f"connection to {self.address} is closed"))
            return fut
        if self.pending or self.wbuf:  # commands in flight: coalesce writes until next tick
            if not self.wbuf:
                self.loop.call_soon(self._flush)
            self.wbuf.append(_pack(args))
        else:  # idle connection (sequential caller): write at once, no extra loop callback
            self.transport.write(_pack(args))
        self.pending.append((fut, self.loop.time()))
        if self.timer is None and self.timeout_s is not None:
            self.timer = self.loop.call_at(self.loop.time() + self.timeout_s, self._check_timeout)
        return fut

    def _flush(self) -> None:
        data, self.wbuf = b"".join(self.wbuf), []
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending = self.pending
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(rex.ConnectionError(f"protocol error from {self.address}: {exc}"))
                return
            if reply is False:
                return
            if not pending:  # unsolicited data: the stream can no longer be trusted
                self._fail(rex.ConnectionError(f"unexpected reply from {self.address}"))
                return
            fut = pending.popleft()[0]
            if fut.done():  # the caller was cancelled: drop its reply
                continue
            if isinstance(reply, hiredis.ReplyError):
                fut.set_exception(reply_error(reply))
            else:
                fut.set_result(reply)

    def _check_timeout(self) -> None:
        self.timer = None
        if not self.pending or self.closed or self.timeout_s is None:
            return
        deadline = self.pending[0][1] + self.timeout_s
        if self.loop.time() >= deadline:
            self._fail(rex.TimeoutError(f"no reply from {self.address} in {self.timeout_s}s"))
        else:
            self.timer = self.loop.call_at(deadline, self._check_timeout)

    def _fail(self, exc: Exception) -> None:
        """Mark the connection dead, abort it and fail every pending command with ``exc``."""
        self.closed = True
        self.wbuf.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()
        while self.pending:
            fut = self.pending.popleft()[0]
            if not fut.done():
                fut.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        why = f": {exc}" if exc else ""
        self._fail(rex.ConnectionError(f"connection to {self.address} lost{why}"))
        if not self.lost.done():
            self.lost.set_result(None)


class LeanClient:
    """``await client.execute("SET", "k", b"v")``; ``await client.evalsha(script, keys, args)``."""

    def __init__(
        self,
        url: str,
        *,
        socket_timeout_s: float | None = 5.0,
        connect_timeout_s: float | None = 5.0,
        keepalive: Mapping[int, int] | None = None,
    ) -> None:
        """``keepalive``: TCP keepalive tuning (default :func:`keepalive_options`)."""
        opts: dict[str, Any] = dict(parse_url(url))
        self.path: str | None = opts.get("path")
        self.host: str = opts.get("host", "localhost")
        self.port: int = int(opts.get("port", 6379))
        self.username: str | None = opts.get("username")
        self.password: str | None = opts.get("password")
        self.db = int(opts.get("db", 0))
        self.url = url
        self.tls = opts.get("connection_class") is SSLConnection
        self.ssl: ssl.SSLContext | None = None  # built on first connect (reads the CA files)
        self.keepalive: Mapping[int, int] | None = (
            None
            if opts.get("socket_keepalive") is False
            else (keepalive_options() if keepalive is None else keepalive)
        )
        self.address = f"unix:{self.path}" if self.path else f"{self.host}:{self.port}"
        self.socket_timeout_s = socket_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._conn: _Conn | None = None
        self._lock: asyncio.Lock | None = None

    async def execute(self, *args: Arg) -> Any:
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connect()
        return await conn.send(args)

    async def evalsha(
        self, script: LeanScript, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()
    ) -> Any:
        """EVALSHA; on NOSCRIPT (restart, failover, SCRIPT FLUSH) load the script, retry once."""
        try:
            return await self.execute(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except rex.NoScriptError:
            await self.execute(b"SCRIPT", b"LOAD", script.source)
            return await self.execute(b"EVALSHA", script.sha, len(keys), *keys, *args)

    async def _connect(self) -> _Conn:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # callers arriving meanwhile wait here, then reuse the connection
            if self._conn is not None and not self._conn.closed:
                return self._conn
            conn = await self._open()
            try:
                if self.password is not None:
                    user = (self.username,) if self.username else ()
                    await conn.send((b"AUTH", *user, self.password))
                if self.db:
                    await conn.send((b"SELECT", self.db))
            except BaseException:
                conn._fail(rex.ConnectionError(f"connection to {self.address} set-up aborted"))
                raise
            self._conn = conn
            return conn

    async def _open(self) -> _Conn:
        loop = asyncio.get_running_loop()
        conn = _Conn(self.address, self.socket_timeout_s)
        try:
            if self.path:
                opening = loop.create_unix_connection(lambda: conn, self.path)
            else:
                if self.tls and self.ssl is None:
                    self.ssl = tls_context(self.url)
                opening = loop.create_connection(lambda: conn, self.host, self.port, ssl=self.ssl)
            transport, _ = await asyncio.wait_for(opening, self.connect_timeout_s)
            if self.keepalive is not None:
                try:
                    _set_keepalive(transport, self.keepalive)
                except OSError:
                    transport.abort()
                    raise
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            why = str(exc) or f"timed out after {self.connect_timeout_s}s"
            raise rex.ConnectionError(f"Error connecting to {self.address}: {why}") from exc
        return conn

    async def aclose(self) -> None:
        """Close the connection (pending commands fail); a later command would reconnect."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn._fail(rex.ConnectionError(f"connection to {self.address} closed by client"))
            await asyncio.wait([conn.lost], timeout=1.0)

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
