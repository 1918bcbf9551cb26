"""TLS against a real TLS redis-server (a private CA made with openssl), end to end through the
Lua scripts, which run on the lean client; and TCP keepalive on every connection."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from redis import exceptions as rex
from redis.asyncio import ConnectionPool, Redis

from rq_stream import ConnectionFailed, RqStream, Worker
from rq_stream.connect.connection import ConnectionSettings
from rq_stream.connect.lean import LeanClient, keepalive_options, tls_context
from rq_stream.scripts import LeanRunner
from rq_stream.testing import RedisServer, TlsFiles, make_tls_files


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tls_files(tmp_path_factory.mktemp("other"), name="someone else").ca_cert


@pytest.fixture(scope="module")
def locked_key(tls: TlsFiles) -> Path:
    """The client key, encrypted with the password "pa ss"."""
    locked = tls.client_key.with_name("client-locked.key")
    subprocess.run(["openssl", "pkey", "-in", str(tls.client_key), "-aes256", "-passout",
                    "pass:pa ss", "-out", str(locked)], check=True, timeout=30)  # fmt: skip
    return locked


@pytest.fixture(scope="module")
def tls_server(tls: TlsFiles) -> Iterator[RedisServer]:
    with RedisServer(tls=tls) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(tls: TlsFiles) -> Iterator[RedisServer]:
    with RedisServer(tls=tls, tls_auth_clients="yes") as server:
        yield server


def rediss(port: int, auth: str = "", db: int = 0, **options: object) -> str:
    query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in options.items())
    return f"rediss://{auth}127.0.0.1:{port}/{db}?{query}"


async def run_a_job(url: str, prefix: str) -> None:
    """Enqueue, run with a burst worker, read the result: every step a script on the lean
    client (so its TLS is exercised, not only redis-py's)."""
    app = RqStream(url, prefix=prefix)

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    async with app:
        assert isinstance(app.scripts._runner, LeanRunner)
        job = await add.enqueue(2, 3)
        await Worker(app, burst=True, handle_signals=False).run()
        assert await job.result(timeout_s=10) == 5
        transport = app.lean._conn.transport  # type: ignore[union-attr]
        assert isinstance(transport.get_extra_info("ssl_object"), ssl.SSLObject)


async def test_tls_verifying_the_server_with_a_private_ca(
    tls_server: RedisServer, tls: TlsFiles, prefix: str
) -> None:
    await run_a_job(rediss(tls_server.port, ssl_ca_certs=tls.ca_cert), prefix)
    # The server certificate names localhost too, with the hostname checked (the default).
    url = rediss(tls_server.port, ssl_ca_certs=tls.ca_cert).replace("127.0.0.1", "localhost")
    await run_a_job(url, prefix)


async def test_tls_without_verification(tls_server: RedisServer, prefix: str) -> None:
    """Before the lean client read the URL's options it verified against the system CAs, so
    the app connected (redis-py) while every script failed."""
    await run_a_job(rediss(tls_server.port, ssl_cert_reqs="none"), prefix)


async def test_mutual_tls_with_a_client_certificate(
    mtls_server: RedisServer, tls: TlsFiles, prefix: str, locked_key: Path
) -> None:
    url = rediss(mtls_server.port, ssl_ca_certs=tls.ca_cert, ssl_certfile=tls.client_cert,
                 ssl_keyfile=tls.client_key)  # fmt: skip
    await run_a_job(url, prefix)
    # The same key encrypted: ssl_password unlocks it.
    url = rediss(mtls_server.port, ssl_ca_certs=tls.ca_cert, ssl_certfile=tls.client_cert,
                 ssl_keyfile=locked_key, ssl_password="pa ss")  # fmt: skip
    await run_a_job(url, prefix)


async def test_mutual_tls_without_a_client_certificate_is_refused(
    mtls_server: RedisServer, tls: TlsFiles
) -> None:
    lean = LeanClient(rediss(mtls_server.port, ssl_ca_certs=tls.ca_cert))
    with pytest.raises(rex.ConnectionError):
        # TLS 1.3: the server's refusal arrives after the handshake, on the first command.
        await lean.execute("PING")
    await lean.aclose()


async def test_a_wrong_ca_is_a_clear_connection_error(
    tls_server: RedisServer, other_ca: Path, prefix: str
) -> None:
    url = rediss(tls_server.port, ssl_ca_certs=other_ca)
    app = RqStream(url, prefix=prefix)
    with pytest.raises(ConnectionFailed) as err:
        await app.connect()
    message = str(err.value)
    assert message.startswith(f"cannot connect to Redis at {url}: ")
    assert "certificate verify failed" in message
    assert message.endswith(
        "Does the URL's ssl_ca_certs name the CA that signed the server's certificate?"
    )
    await app.close()
    lean = LeanClient(url)
    with pytest.raises(rex.ConnectionError) as lean_err:
        await lean.execute("PING")
    assert f"Error connecting to 127.0.0.1:{tls_server.port}: " in str(lean_err.value)
    assert "certificate verify failed" in str(lean_err.value)


async def test_credentials_and_database_from_a_tls_url(
    tls_server: RedisServer, tls: TlsFiles, prefix: str
) -> None:
    admin = Redis.from_url(tls_server.url)
    await admin.acl_setuser("rqs-user", enabled=True, passwords=["+s3cr%t"], keys="*",
                            channels="*", commands=["+@all"])  # fmt: skip
    try:
        url = rediss(tls_server.port, "rqs-user:s3cr%25t@", 3, ssl_ca_certs=tls.ca_cert)
        await run_a_job(url, prefix)
        await admin.select(3)  # type: ignore[no-untyped-call]
        assert await admin.keys(f"{prefix}*")
        await admin.select(0)  # type: ignore[no-untyped-call]
        assert not await admin.keys(f"{prefix}*")
        bad = LeanClient(rediss(tls_server.port, "rqs-user:nope@", ssl_ca_certs=tls.ca_cert))
        with pytest.raises(rex.AuthenticationError):
            await bad.execute("PING")
        await bad.aclose()
    finally:
        await admin.acl_deluser("rqs-user")
        await admin.aclose()


# ------------------------------------------------ the lean client reads TLS options as redis-py
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ssl_cert_reqs": "none"},
        {"ssl_cert_reqs": "optional", "ssl_check_hostname": "false"},
        {"ssl_cert_reqs": "required", "ssl_ca_path": "/etc/ssl/certs"},
        {"ssl_min_version": str(int(ssl.TLSVersion.TLSv1_3))},
        {"ssl_ciphers": "ECDHE+AESGCM"},
        {"ssl_check_hostname": "false"},
    ],
)
def test_lean_tls_context_is_redis_pys(options: dict[str, str], tls: TlsFiles) -> None:
    url = rediss(6390, ssl_ca_certs=tls.ca_cert, **options)
    ours = tls_context(url)
    theirs = ConnectionPool.from_url(url).make_connection().ssl_context.get()
    assert ours is not None

    def facts(c: ssl.SSLContext) -> tuple[Any, ...]:
        ciphers = sorted(x["name"] for x in c.get_ciphers())
        return (c.verify_mode, c.check_hostname, c.minimum_version, ciphers,
                len(c.get_ca_certs()), c.verify_flags)  # fmt: skip

    assert facts(ours) == facts(theirs)
    assert tls_context(url.replace("rediss://", "redis://")) is None


def test_lean_refuses_tls_options_redis_py_does_not_take() -> None:
    with pytest.raises(ValueError, match="unusable TLS options in the Redis URL"):
        tls_context("rediss://127.0.0.1:1/0?ssl_cert_reqs=sometimes")
    with pytest.raises(ValueError, match="unusable TLS options in the Redis URL"):
        tls_context("rediss://127.0.0.1:1/0?ssl_no_such_option=1")


# ---------------------------------------------------------------------- keepalive
async def test_tcp_keepalive_on_every_connection(redis_url: str, prefix: str) -> None:
    settings = ConnectionSettings(keepalive_idle_s=45, keepalive_interval_s=7, keepalive_count=4)
    app = RqStream(redis_url, prefix=prefix, connection_settings=settings)
    async with app:
        await app.lean.execute("PING")
        sock = app.lean._conn.transport.get_extra_info("socket")  # type: ignore[union-attr]
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        expected = keepalive_options(45, 7, 4)
        assert expected, "this platform tunes no keepalive option"
        for option, value in expected.items():
            assert sock.getsockopt(socket.IPPROTO_TCP, option) == value
        for client in (app.redis, app.blocking_redis):
            kwargs = client.connection_pool.connection_kwargs
            assert kwargs["socket_keepalive"] is True
            assert kwargs["socket_keepalive_options"] == expected
    off = LeanClient(redis_url + "?socket_keepalive=false")
    await off.execute("PING")
    sock = off._conn.transport.get_extra_info("socket")  # type: ignore[union-attr]
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
    await off.aclose()
