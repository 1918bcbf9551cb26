"""workers/fastapi_app.py: enqueue through the HTTP API while an in-process Worker runs."""

from __future__ import annotations

import importlib
from types import ModuleType

import anyio
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from rq_stream import Worker  # noqa: E402


@pytest.fixture
def example(redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example module, imported afresh so that it reads this test's Redis and prefix."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RQ_STREAM_PREFIX", prefix)
    return importlib.reload(importlib.import_module("workers.fastapi_app"))


async def test_enqueue_from_handler_and_fetch_result(example: ModuleType) -> None:
    transport = httpx.ASGITransport(app=example.app)
    worker = Worker(example.tasks, concurrency=4, handle_signals=False, heartbeat_s=0.5)
    async with (
        example.app.router.lifespan_context(example.app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(worker.run)
        text = "the quick brown fox jumps over the lazy dog. The end!"
        created = await client.post("/reports", json={"text": text, "top": 2})
        assert created.status_code == 202, created.text
        body = created.json()
        assert body["status"] == "queued"

        got = await client.get(f"/jobs/{body['job_id']}", params={"wait_s": 10})
        assert got.status_code == 200, got.text
        assert got.json() == {
            "job_id": body["job_id"],
            "status": "succeeded",
            "result": {"words": 11, "top": [["the", 3], ["quick", 1]]},
            "error": None,
        }
        worker.request_stop()


async def test_unknown_job_and_invalid_request(example: ModuleType) -> None:
    transport = httpx.ASGITransport(app=example.app)
    async with (
        example.app.router.lifespan_context(example.app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        missing = await client.get("/jobs/no-such-job")
        assert missing.status_code == 404
        assert "no job 'no-such-job'" in missing.json()["detail"]
        assert (await client.post("/reports", json={"text": ""})).status_code == 422
        pending = await client.post("/reports", json={"text": "no worker runs"})
        status = await client.get(f"/jobs/{pending.json()['job_id']}")
        assert status.json()["status"] == "queued"
