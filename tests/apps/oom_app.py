"""Tasks for the out-of-memory tests, run by worker subprocesses against a full Redis.

Configured from the environment: REDIS_URL, RQ_STREAM_PREFIX, RQS_BACKEND (streams|lists),
OOM_GATE (jobs wait until this file exists) and OOM_RAN (each job appends its number there:
a Redis write would be refused while Redis is full, a file is not).
"""

from __future__ import annotations

import os
from typing import Any

import anyio

from rq_stream import RqStream

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "oom"))
QUEUE = "work"
app.queue(QUEUE, backend=os.environ.get("RQS_BACKEND", "streams"))  # type: ignore[arg-type]
GATE = os.environ.get("OOM_GATE", "")
RAN = os.environ.get("OOM_RAN", "")
_state: dict[str, Any] = {"open": not GATE, "out": None}


def _gate_open() -> bool:
    if not _state["open"]:
        _state["open"] = os.path.exists(GATE)
    return bool(_state["open"])


def _record(i: int) -> None:
    """One line per job, one O_APPEND write each: the lines of several processes never mix."""
    if _state["out"] is None:
        _state["out"] = open(RAN, "a", buffering=1)  # noqa: SIM115 (kept open for the process)
    _state["out"].write(f"{i}\n")


@app.task(queue=QUEUE, result_ttl_s=0)
async def fill(i: int, pad: str) -> None:
    """Waits for the gate (so the test can look at a full Redis with workers on it), then
    records that job ``i`` ran (a Redis write would be refused while Redis is full)."""
    while not _gate_open():
        await anyio.sleep(0.05)
    _record(i)
