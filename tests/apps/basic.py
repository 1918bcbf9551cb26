"""Tasks used by the in-process tests and by worker subprocesses (REDIS_URL, RQ_STREAM_PREFIX)."""

from __future__ import annotations

import os
from typing import Any

import anyio

from rq_stream import RqStream

app = RqStream(
    os.environ.get("REDIS_URL"),
    prefix=os.environ.get("RQ_STREAM_PREFIX", "basic"),
    lease_s=float(os.environ.get("RQS_LEASE_S", "30")),
)


@app.task(result_ttl_s=600)
async def add(x: int, y: int) -> int:
    return x + y


@app.task
async def sleep_then(seconds: float, value: Any = None) -> Any:
    await anyio.sleep(seconds)
    return value


@app.task
def sync_mul(x: int, y: int) -> int:
    return x * y


@app.task(max_attempts=2)
async def die(code: int = 1) -> None:
    os._exit(code)
