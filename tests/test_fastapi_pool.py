"""workers/fastapi_pool.py: a FastAPI app and an in-process worker, each with its own pool from
its own lifespan, over one database."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import anyio
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from rq_stream import Worker  # noqa: E402


@pytest.fixture
def example(
    redis_url: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RQ_STREAM_PREFIX", prefix)
    monkeypatch.setenv("FASTAPI_POOL_DB", str(tmp_path / "orders.sqlite3"))
    return importlib.reload(importlib.import_module("workers.fastapi_pool"))


async def test_web_and_worker_share_the_database_each_with_its_pool(example: ModuleType) -> None:
    transport = httpx.ASGITransport(app=example.api)
    worker = Worker(example.tasks, concurrency=3, handle_signals=False, name="pool-worker")
    async with (
        example.api.router.lifespan_context(example.api),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(worker.run)
        created = [
            (await client.post("/orders", json={"item": f"item {i}", "cents": 100 + i})).json()
            for i in range(5)
        ]
        assert [c["status"] for c in created] == ["pending"] * 5
        for c in created:
            got = await client.get(f"/orders/{c['order_id']}", params={"wait_s": 10})
            assert got.json() == {
                "order_id": c["order_id"],
                "status": "charged",
                "charged_by": "pool-worker",
            }
        assert await example.tasks.job(f"charge-{created[0]['order_id']}").result() == (
            "charged 100 cents"
        )
        assert (await client.get("/orders/99")).status_code == 404
        worker.request_stop()
    assert (example.Pool.opened, example.Pool.closed) == (2, 2)  # the web's and the worker's
