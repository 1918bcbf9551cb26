"""An app with a lifespan for the CLI and supervisor tests (REDIS_URL, RQ_STREAM_PREFIX from the
environment): with LIFESPAN_DIR set, each worker process writes ``open-<pid>`` when its lifespan
starts and ``close-<pid>`` when it exits; LIFESPAN_FAIL makes the lifespan raise at start."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from rq_stream import Depends, RqStream, WorkerInfo, current_job, worker_state

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "cli"))


@dataclass(frozen=True)
class State:
    pid: int


def _mark(name: str) -> None:
    directory = os.environ.get("LIFESPAN_DIR")
    if directory:
        (Path(directory) / name).touch()


@app.lifespan
async def lifespan(worker: WorkerInfo) -> AsyncIterator[State]:
    if os.environ.get("LIFESPAN_FAIL"):
        raise RuntimeError("database unreachable")
    _mark(f"open-{worker.pid}")
    try:
        yield State(worker.pid)
    finally:
        _mark(f"close-{worker.pid}")


def state_pid(state: State = Depends(worker_state)) -> int:
    return state.pid


@app.task(result_ttl_s=600)
async def whoami(n: int, pid: int = Depends(state_pid)) -> list[int]:
    job = current_job()
    assert job is not None
    return [n, pid, job.state.pid]


@app.task(process=True, result_ttl_s=600)
def state_in_subprocess() -> str:
    job = current_job()
    assert job is not None
    return repr(job.state)  # the lifespan's state stays in the worker
