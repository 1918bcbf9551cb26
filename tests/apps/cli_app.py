"""Tasks for the CLI and supervisor tests (REDIS_URL, RQ_STREAM_PREFIX from the environment)."""

from __future__ import annotations

import datetime as dt
import os

import anyio

from rq_stream import RqStream

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "cli"))
not_an_app = object()
app.queue("bulk", backend="lists")


@app.task(result_ttl_s=600)
async def add(x: int, y: int) -> int:
    return x + y


@app.task(result_ttl_s=600)
async def fail(message: str) -> None:
    raise ValueError(message)


@app.task(result_ttl_s=600)
async def slow(seconds: float, value: int = 0) -> int:
    await anyio.sleep(seconds)
    return value


@app.task(queue="reports", result_ttl_s=600)
async def report(day: str) -> dict[str, object]:
    return {"day": day, "at": dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), "raw": b"\x00"}


@app.task(queue="bulk")
async def bulk(n: int) -> int:
    return n
