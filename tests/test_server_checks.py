"""Redis configurations a queue must notice: eviction policies, full memory, bad URLs."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from rq_stream import ConnectionFailed, RqStream, Worker
from rq_stream.errors import RedisOutOfMemory
from rq_stream.testing import RedisServer


async def test_worker_warns_unless_noeviction(prefix: str) -> None:
    with RedisServer(extra_args=["--maxmemory-policy", "allkeys-lru"]) as server:
        app = RqStream(server.url, prefix=prefix)

        @app.task
        async def noop() -> None:
            return None

        with capture_logs() as logs:
            await Worker(app, burst=True, handle_signals=False).run()
        await app.close()
    warnings = [x for x in logs if "maxmemory-policy is not noeviction" in x["event"]]
    assert warnings and warnings[0]["maxmemory_policy"] == "allkeys-lru"
    assert warnings[0]["log_level"] == "warning"


async def test_out_of_memory_is_a_clear_error(prefix: str) -> None:
    with RedisServer(extra_args=["--maxmemory", "2mb"]) as server:
        app = RqStream(server.url, prefix=prefix)

        @app.task
        async def store(blob: bytes) -> None:
            return None

        async with app:
            with pytest.raises(RedisOutOfMemory, match="out of memory .* the job was NOT enqueued"):
                for _ in range(100):
                    await store.enqueue(b"x" * 500_000)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:6379", "must start with redis://, rediss:// or unix://"),
        ("redis://", "no host name"),
        ("redis://127.0.0.1:port/0", "the port is not a number"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConnectionFailed, match=message):
        RqStream(url)


async def test_wrong_password(prefix: str) -> None:
    with RedisServer(extra_args=["--requirepass", "secret"]) as server:
        app = RqStream(f"redis://:wrong@127.0.0.1:{server.port}/0", prefix=prefix)
        with pytest.raises(ConnectionFailed, match=r"refused the credentials"):
            await app.connect()
        await app.close()
