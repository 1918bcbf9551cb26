"""Tasks for the pattern tests (rate limits, locks, cache, unique jobs), run in worker processes.

Every task records what it observed in Redis under ``<prefix>:test:*`` with the server's clock
(microseconds), so a test can check invariants across processes afterwards.
"""

from __future__ import annotations

import os

import anyio

from rq_stream import RqStream

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "patterns"))


def test_key(name: str) -> str:
    return f"{app.prefix}:test:{name}"


async def now_us() -> int:
    seconds, micros = await app.redis.time()
    return int(seconds) * 1_000_000 + int(micros)


@app.task(queue="rated", rate_limit="5/s", max_attempts=1)
async def rated(n: int) -> int:
    """max_attempts=1: if a deferral counted as an attempt, the job would be dead-lettered."""
    await app.redis.rpush(test_key("starts"), await now_us())
    return n


@app.task(queue="rated", rate_limit="3/s", rate_key=lambda tenant, **_: tenant, max_attempts=1)
async def per_tenant(tenant: str, n: int) -> int:
    await app.redis.rpush(test_key(f"starts:{tenant}"), await now_us())
    return n


@app.task(queue="locked")
async def critical(n: int, hold_s: float = 0.03) -> int:
    async with app.lock("critical", ttl_s=2, timeout_s=30):
        start = await now_us()
        await anyio.sleep(hold_s)
        end = await now_us()
    await app.redis.rpush(test_key("intervals"), f"{start}:{end}")
    return n


@app.cached(ttl_s=30, key=lambda item: item)
async def expensive(item: str) -> str:
    await app.redis.incr(test_key(f"computes:{item}"))
    await anyio.sleep(0.3)
    return f"value-of-{item}"


@app.task(queue="cached")
async def lookup(item: str) -> str:
    return await expensive(item)


@app.task(queue="unique", unique=True)
async def sync_account(account_id: int, full: bool = False) -> int:
    await anyio.sleep(0.05)
    return account_id


def configure(url: str, prefix: str) -> RqStream:
    """Point this module's app at a test's Redis and prefix (the worker processes get them from
    REDIS_URL and RQ_STREAM_PREFIX); the test enqueues through it and closes it."""
    app.url, app.prefix = url, prefix  # the key names follow the prefix
    return app
