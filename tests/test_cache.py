"""Cache-aside: hits and misses, one computation per stampede (in one process and across
worker processes), takeover when the filler dies, invalidation and write-through."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from rq_stream import RqStream
from rq_stream.errors import ConfigurationError
from tests.apps import patterns_app
from tests.conftest import Procs

TARGET = "tests.apps.patterns_app:app"


async def test_hit_miss_and_values(app: RqStream) -> None:
    calls: list[int] = []

    @app.cached(ttl_s=30, redis_stats=True)
    async def square(x: int, label: str = "") -> dict[str, Any]:
        calls.append(x)
        return {"x": x, "sq": x * x, "pair": (x, label)}

    first = await square(3)
    assert first == {"x": 3, "sq": 9, "pair": [3, ""]}  # as the codec returns it, every time
    assert await square(3) == first
    assert await square(x=3, label="") == first  # same arguments, same entry
    assert await square(4) == {"x": 4, "sq": 16, "pair": [4, ""]}
    assert calls == [3, 4]
    assert square.local_stats() == {"hits": 2, "misses": 2, "computes": 2, "waited": 0}
    assert await square.shared_stats() == {"hits": 2, "misses": 2, "computes": 2}


async def test_stampede_in_one_process_computes_once(app: RqStream) -> None:
    computes = 0

    @app.cached(ttl_s=30, key=lambda user_id: f"user:{user_id}")
    async def get_user(user_id: int) -> dict[str, Any]:
        nonlocal computes
        computes += 1
        await anyio.sleep(0.2)
        return {"id": user_id}

    results: list[Any] = []

    async def call() -> None:
        results.append(await get_user(7))

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(call)
    assert computes == 1
    assert results == [{"id": 7}] * 50
    assert get_user.stats.misses == 50
    assert get_user.stats.waited == 49
    assert await app.redis.exists(app.keys.cache(get_user.namespace, "{user:7}")) == 1


async def test_stampede_across_worker_processes(redis_url: str, prefix: str, procs: Procs) -> None:
    for _ in range(3):
        procs.worker(TARGET, redis_url, prefix, "--queues", "cached", "-c", "10")
    async with patterns_app.configure(redis_url, prefix) as client:
        jobs = await client.enqueue_many([patterns_app.lookup.call("hot") for _ in range(30)])
        assert [await j.result(timeout_s=30) for j in jobs] == ["value-of-hot"] * 30
        assert await client.redis.get(f"{prefix}:test:computes:hot") == b"1"


async def test_waiter_takes_over_when_filler_dies(app: RqStream) -> None:
    @app.cached(ttl_s=30, key=lambda k: k, lock_ttl_s=5)
    async def value(k: str) -> str:
        return f"fresh-{k}"

    # Another process took the fill lock and died: it expires in 0.3 s, nobody publishes.
    await app.redis.set(app.keys.cache_fill(value.namespace, "{a}"), "dead", px=300)
    with anyio.fail_after(5):
        assert await value("a") == "fresh-a"
    assert value.stats.computes == 1
    assert await value("a") == "fresh-a"  # it was stored
    assert value.stats.hits == 1


async def test_waiter_computes_itself_after_wait_s(app: RqStream) -> None:
    @app.cached(ttl_s=30, key=lambda k: k, wait_s=0.2)
    async def value(k: str) -> str:
        return f"fresh-{k}"

    await app.redis.set(app.keys.cache_fill(value.namespace, "{b}"), "stuck", px=10_000)
    with anyio.fail_after(5):
        assert await value("b") == "fresh-b"
    # Computed without the fill lock: not stored (the lock holder will store its own).
    assert await app.redis.exists(app.keys.cache(value.namespace, "{b}")) == 0


async def test_failed_fill_lets_a_waiter_take_over(app: RqStream) -> None:
    attempts = 0

    @app.cached(ttl_s=30, key=lambda k: k, lock_ttl_s=10)
    async def flaky(k: str) -> str:
        nonlocal attempts
        attempts += 1
        await anyio.sleep(0.1)
        if attempts == 1:
            raise RuntimeError("database hiccup")
        return "ok"

    outcomes: list[str] = []

    async def call() -> None:
        try:
            outcomes.append(await flaky("k"))
        except RuntimeError as exc:
            outcomes.append(str(exc))

    with anyio.fail_after(5):  # far less than lock_ttl_s: the failure released the fill lock
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call)
    assert sorted(outcomes) == ["database hiccup"] + ["ok"] * 4
    assert attempts == 2


async def test_invalidate_and_write_through(app: RqStream) -> None:
    db = {"name": "Ada"}

    @app.cached(ttl_s=60, key=lambda user_id: user_id)
    async def profile(user_id: int) -> dict[str, str]:
        return dict(db)

    assert await profile(1) == {"name": "Ada"}
    db["name"] = "Grace"
    assert await profile(1) == {"name": "Ada"}  # cached
    await profile.invalidate(1)
    assert await profile(1) == {"name": "Grace"}
    db["name"] = "Hedy"
    await profile.set(dict(db), 1)  # write-through
    assert await profile(1) == {"name": "Hedy"}
    assert profile.stats.computes == 2


async def test_invalidation_during_fill_is_not_overwritten(app: RqStream) -> None:
    db = {"v": "old"}
    started = anyio.Event()

    @app.cached(ttl_s=60, key=lambda k: k)
    async def read(k: str) -> str:
        value = db["v"]
        started.set()
        await anyio.sleep(0.2)  # the update happens while this slow read is in flight
        return value

    async with anyio.create_task_group() as tg:
        tg.start_soon(read, "k")
        await started.wait()
        db["v"] = "new"
        await read.invalidate("k")
    # The slow read returned its (old) value to its caller but did not cache it.
    assert await read("k") == "new"


async def test_cached_needs_async_function(app: RqStream) -> None:
    with pytest.raises(ConfigurationError, match="@app.cached needs an async function"):

        @app.cached(ttl_s=1)  # type: ignore[arg-type]
        def sync(x: int) -> int:
            return x


def test_patterns_example_runs(redis_url: str, prefix: str) -> None:
    """The README's pattern examples, run the way a reader would run them."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix}
    out = subprocess.run(
        [sys.executable, "-m", "workers.patterns_example"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "user again (cached): {'id': 42, 'name': 'Ada', 'plan': 'free'}" in out
    assert "after update: {'id': 42, 'name': 'Ada', 'plan': 'pro'}" in out
    assert "cache stats: {'hits': 2, 'misses': 1, 'computes': 1, 'waited': 0}" in out
    assert "search: [200, 200, 200, 200, 200, 429, 429]" in out
    assert "reindex jobs: 1" in out
    assert "partner api: 25 calls sent" in out
    assert "reports: {'report 2024-05-01 built'}" in out
    assert "reindex: products reindexed" in out
