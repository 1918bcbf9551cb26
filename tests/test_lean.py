"""LeanClient against real redis-servers: replies, error mapping, pipelining, loss, timeouts."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest
import redis.asyncio as aredis
from redis import exceptions as rex

from rq_stream.connect.lean import LeanClient, LeanScript, _pack, _py_pack
from rq_stream.testing import RedisServer, free_port

INCR_PLUS = LeanScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of this test's own, free to be killed, paused or restarted."""
    with RedisServer() as server:
        yield server


async def test_reply_types_round_trip(redis_url: str, prefix: str) -> None:
    async with LeanClient(redis_url) as c:
        assert await c.execute("PING") == b"PONG"
        assert await c.execute("SET", f"{prefix}:s", b"v") == b"OK"
        assert await c.execute("GET", f"{prefix}:s") == b"v"
        assert await c.execute("GET", f"{prefix}:missing") is None
        assert await c.execute("INCRBY", f"{prefix}:n", 41) == 41
        assert await c.execute("INCRBYFLOAT", f"{prefix}:f", 1.5) == b"1.5"
        binary = bytes(range(256)) * 4 + b"\r\n$-1\r\n"
        await c.execute("SET", f"{prefix}:b", binary)
        assert await c.execute("GET", f"{prefix}:b") == binary
        big = os.urandom(3 * 1024 * 1024)
        await c.execute("SET", f"{prefix}:big", big)
        assert await c.execute("GET", f"{prefix}:big") == big
        assert await c.execute("RPUSH", f"{prefix}:l", "a", "b", "c") == 3
        assert await c.execute("LRANGE", f"{prefix}:l", 0, -1) == [b"a", b"b", b"c"]
        assert await c.execute("LRANGE", f"{prefix}:nolist", 0, -1) == []
        assert await c.execute("MGET", f"{prefix}:s", f"{prefix}:missing") == [b"v", None]
        nested = await c.execute(
            "EVAL", "return {1, 'two', {3, {'four'}}, {}, redis.status_reply('FINE')}", 0
        )
        assert nested == [1, b"two", [3, [b"four"]], [], b"FINE"]
        xid = await c.execute("XADD", f"{prefix}:x", "*", "field", "value")
        assert await c.execute("XRANGE", f"{prefix}:x", "-", "+") == [[xid, [b"field", b"value"]]]


def test_python_packer_matches_hiredis() -> None:
    for args in [(b"SET", "k", 1, 2.5), ("PING",), (b"\r\n\x00", "é", -7, 0.1)]:
        assert _py_pack(args) == _pack(args)
    assert _pack is hiredis.pack_command  # the fallback is only for hiredis without it


async def test_error_replies_map_to_redis_py_classes(redis_url: str, prefix: str) -> None:
    async with LeanClient(redis_url) as c:
        await c.execute("SET", f"{prefix}:s", "x")
        with pytest.raises(rex.ResponseError, match="^WRONGTYPE"):
            await c.execute("LPUSH", f"{prefix}:s", "y")
        await c.execute("XGROUP", "CREATE", f"{prefix}:x", "g", "$", "MKSTREAM")
        with pytest.raises(rex.ResponseError, match="^BUSYGROUP"):
            await c.execute("XGROUP", "CREATE", f"{prefix}:x", "g", "$", "MKSTREAM")
        with pytest.raises(rex.ResponseError, match="^NOGROUP"):
            await c.execute("XREADGROUP", "GROUP", "nope", "c", "STREAMS", f"{prefix}:x", ">")
        with pytest.raises(rex.NoScriptError):
            await c.execute("EVALSHA", "0" * 40, 0)
        with pytest.raises(rex.ResponseError, match="unknown command"):
            await c.execute("NOSUCHCOMMAND")
        # the connection is still in step after errors
        assert await c.execute("GET", f"{prefix}:s") == b"x"


async def test_evalsha_loads_missing_script_and_retries(redis_url: str, prefix: str) -> None:
    async with LeanClient(redis_url) as c:
        await c.execute("SCRIPT", "FLUSH")
        assert await c.execute("SCRIPT", "EXISTS", INCR_PLUS.sha) == [0]
        assert await c.evalsha(INCR_PLUS, [f"{prefix}:n"], [5]) == 5
        assert await c.execute("SCRIPT", "EXISTS", INCR_PLUS.sha) == [1]
        assert await c.evalsha(INCR_PLUS, [f"{prefix}:n"], [2]) == 7
        # many concurrent callers meeting NOSCRIPT at once all succeed
        await c.execute("SCRIPT", "FLUSH")
        keys = [f"{prefix}:c{i}" for i in range(200)]
        got = await asyncio.gather(*(c.evalsha(INCR_PLUS, [k], [i]) for i, k in enumerate(keys)))
        assert got == list(range(200))
        with pytest.raises(rex.ResponseError, match="user_script"):
            await c.evalsha(LeanScript("return redis.call('NOSUCH')"))


async def test_out_of_memory_error() -> None:
    with RedisServer(extra_args=["--maxmemory", "1mb"]) as server:
        async with LeanClient(server.url) as c:
            value = b"x" * 20_000
            with pytest.raises(rex.ResponseError, match="^OOM") as caught:
                for i in range(1000):
                    await c.execute("SET", f"k{i}", value)
            oom = getattr(rex, "OutOfMemoryError", rex.ResponseError)
            assert isinstance(caught.value, oom)
            with pytest.raises(oom):
                await c.evalsha(INCR_PLUS, ["n"], [1])
            assert await c.execute("GET", "k0") == value  # reads still work


async def test_readonly_replica(redis_server: RedisServer) -> None:
    args = ["--replicaof", "127.0.0.1", str(redis_server.port)]
    with RedisServer(extra_args=args) as replica:
        async with LeanClient(replica.url) as c:
            with pytest.raises(rex.ReadOnlyError, match="^READONLY"):
                await c.execute("SET", "k", "v")
            with pytest.raises(rex.ReadOnlyError):
                await c.execute("INCR", "k")


async def test_auth_and_select() -> None:
    with RedisServer(extra_args=["--requirepass", "s3cret"]) as server:
        port = server.port
        async with LeanClient(f"redis://:s3cret@127.0.0.1:{port}/3") as c:
            assert await c.execute("SET", "k", "in-db-3") == b"OK"
        async with LeanClient(f"redis://default:s3cret@127.0.0.1:{port}/0") as c:
            assert await c.execute("GET", "k") is None
            await c.execute("SELECT", 3)
            assert await c.execute("GET", "k") == b"in-db-3"
        async with LeanClient(f"redis://127.0.0.1:{port}/0") as c:
            with pytest.raises(rex.AuthenticationError, match="NOAUTH"):
                await c.execute("GET", "k")
        async with LeanClient(f"redis://:wrong@127.0.0.1:{port}/0") as c:
            with pytest.raises(rex.AuthenticationError, match="WRONGPASS"):
                await c.execute("GET", "k")
        r = aredis.Redis(port=port, password="s3cret", db=3)
        assert await r.get("k") == b"in-db-3"
        await r.aclose()


async def test_concurrent_callers_get_their_own_replies(redis_url: str, prefix: str) -> None:
    async with LeanClient(redis_url) as c:  # the first 10000 commands also wait for the connect
        n = 5000
        incrs = [c.execute("INCRBY", f"{prefix}:{i}", i) for i in range(n)]
        gets = [c.execute("GET", f"{prefix}:{i}") for i in range(n)]
        got = await asyncio.gather(*incrs, *gets)
        assert got[:n] == list(range(n))
        assert got[n:] == [str(i).encode() for i in range(n)]
        got = await asyncio.gather(*(c.execute("GET", f"{prefix}:{i}") for i in range(n)))
        assert got == [str(i).encode() for i in range(n)]


async def test_cancelled_callers_do_not_desynchronise(redis_url: str, prefix: str) -> None:
    async with LeanClient(redis_url) as c:
        for i in range(20):
            await c.execute("SET", f"{prefix}:{i}", i)
        # BLPOP holds the connection's replies back for 0.3 s, so the GETs are all in flight
        blocker = asyncio.create_task(c.execute("BLPOP", f"{prefix}:empty", "0.3"))
        await asyncio.sleep(0)
        tasks = [asyncio.create_task(c.execute("GET", f"{prefix}:{i}")) for i in range(20)]
        await asyncio.sleep(0.05)
        assert not blocker.done()
        blocker.cancel()
        for t in tasks[::2]:
            t.cancel()
        for i, t in enumerate(tasks):
            if i % 2:
                assert await t == str(i).encode()
            else:
                with pytest.raises(asyncio.CancelledError):
                    await t
        assert blocker.cancelled()
        assert await c.execute("GET", f"{prefix}:7") == b"7"


async def test_server_killed_fails_pending_then_reconnects(own_server: RedisServer) -> None:
    c = LeanClient(own_server.url)
    assert await c.evalsha(INCR_PLUS, ["n"], [1]) == 1
    blocker = asyncio.create_task(c.execute("BLPOP", "empty", 5))
    await asyncio.sleep(0)
    others = [asyncio.create_task(c.execute("INCR", "n")) for _ in range(10)]
    await asyncio.sleep(0.05)
    own_server.kill()
    for t in [blocker, *others]:
        with pytest.raises(rex.ConnectionError):
            await t
    with pytest.raises(rex.ConnectionError, match=f"127.0.0.1:{own_server.port}"):
        await c.execute("PING")
    own_server.start()
    assert await c.execute("PING") == b"PONG"
    assert await c.evalsha(INCR_PLUS, ["n"], [1]) == 1  # new empty server: script reloaded
    await c.aclose()


async def test_connect_error_names_the_address() -> None:
    port = free_port()
    c = LeanClient(f"redis://127.0.0.1:{port}/0", connect_timeout_s=1.0)
    with pytest.raises(rex.ConnectionError, match=f"127.0.0.1:{port}"):
        await c.execute("PING")
    await c.aclose()


async def test_paused_server_times_out(own_server: RedisServer) -> None:
    assert own_server.proc is not None
    pid = own_server.proc.pid
    c = LeanClient(own_server.url, socket_timeout_s=0.5)
    assert await c.execute("PING") == b"PONG"
    await asyncio.sleep(0.7)  # an idle connection is never timed out
    assert await c.execute("PING") == b"PONG"
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        first = asyncio.create_task(c.execute("PING"))
        await asyncio.sleep(0.2)
        later = [asyncio.create_task(c.execute("INCR", "n")) for _ in range(5)]
        for t in [first, *later]:
            with pytest.raises(rex.TimeoutError):
                await t
        # Not before the 0.5 s timeout; the upper bound only says "it did not hang until
        # SIGCONT", far from the expected value.
        assert 0.45 < time.monotonic() - started < 30.0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert await c.execute("PING") == b"PONG"
    await c.aclose()


async def test_unix_socket_url() -> None:
    directory = tempfile.mkdtemp(prefix="rq-lean-")  # short path: sun_path is ~100 bytes
    sock = str(Path(directory) / "r.sock")
    try:
        with RedisServer(extra_args=["--unixsocket", sock, "--unixsocketperm", "700"]) as server:
            async with LeanClient(f"unix://{sock}?db=2") as c:
                assert await c.execute("SET", "k", "v") == b"OK"
            r = aredis.Redis(port=server.port, db=2)
            assert await r.get("k") == b"v"
            await r.aclose()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_aclose_fails_pending_and_client_can_reconnect(redis_url: str, prefix: str) -> None:
    c = LeanClient(redis_url)
    blocker = asyncio.create_task(c.execute("BLPOP", f"{prefix}:empty", 5))
    await asyncio.sleep(0.05)
    await c.aclose()
    with pytest.raises(rex.ConnectionError):
        await blocker
    assert await c.execute("PING") == b"PONG"
    await c.aclose()


def test_url_parsing() -> None:
    c = LeanClient("rediss://alice:pw@example.com:6380/4")
    assert (c.host, c.port, c.username, c.password, c.db) == ("example.com", 6380, "alice", "pw", 4)
    assert c.tls and c.ssl is None  # the TLS context is built on first connect
    assert not LeanClient("redis://localhost").tls
    assert LeanClient("unix:///tmp/r.sock?db=5").address == "unix:/tmp/r.sock"
