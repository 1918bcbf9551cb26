"""An app that imports in the supervisor but not in its worker processes (a broken deploy)."""

from __future__ import annotations

import os

from rq_stream import RqStream

if "RQ_STREAM_WORKER_INDEX" in os.environ:
    raise ImportError("cannot import name 'settings' from 'cli_child_fails_config'")

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "cli"))


@app.task
async def noop() -> None:
    return None
