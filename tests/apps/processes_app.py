"""Tasks for the process=True tests: one C call that holds the GIL, in a thread or in a worker
subprocess, plus subprocesses that crash, hang, raise or report where they ran.

Configured from the environment like tests.apps.reliability: REDIS_URL, RQ_STREAM_PREFIX,
RQS_LEASE_S. Runs are logged by appending a line to the file named in the arguments.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from rq_stream import RqStream, current_job

app = RqStream(
    os.environ.get("REDIS_URL"),
    prefix=os.environ.get("RQ_STREAM_PREFIX", "processes"),
    lease_s=float(os.environ.get("RQS_LEASE_S", "30")),
)
QUEUE = "cpu"
_CATASTROPHIC = re.compile(r"(a+)+$")


def hold_gil_once(n: int) -> None:
    """One call into the regex engine (C) that keeps the GIL for ~2**n steps: no other thread
    of the process runs until it returns."""
    assert _CATASTROPHIC.match("a" * n + "b") is None


def _log(path: str, line: str) -> None:
    with open(path, "a") as f:  # one short O_APPEND write: lines from processes do not mix
        f.write(f"{line}\n")


def _hold(path: str, n: int) -> int:
    job = current_job()
    assert job is not None
    _log(path, f"start {job.job_id} {job.attempt} {os.getpid()}")
    hold_gil_once(n)
    _log(path, f"end {job.job_id} {job.attempt} {os.getpid()}")
    return n


@app.task(queue=QUEUE, process=True)
def in_process(path: str, n: int) -> int:
    return _hold(path, n)


@app.task(queue=QUEUE)
def in_thread(path: str, n: int) -> int:
    return _hold(path, n)


@app.task(queue=QUEUE, process=True)
def where() -> dict[str, Any]:
    job = current_job()
    return {"pid": os.getpid(), "attempt": job.attempt if job else None}


@app.task(queue=QUEUE, process=True)
def die(code: int) -> None:
    os._exit(code)


@app.task(queue=QUEUE, process=True, timeout_s=0.5)
def hang(path: str) -> None:
    _log(path, f"pid {os.getpid()}")
    time.sleep(60)


@app.task(queue=QUEUE, process=True)
def linger(path: str, seconds: float) -> int:
    job = current_job()
    assert job is not None
    _log(path, f"start {job.attempt} {os.getpid()}")
    time.sleep(seconds)
    _log(path, f"end {job.attempt} {os.getpid()}")
    return job.attempt


@app.task(queue=QUEUE)
async def block_loop(seconds: float) -> None:
    """Blocks the worker's event loop on its first attempt (what async tasks must never do)."""
    job = current_job()
    if job is not None and job.attempt == 1:
        time.sleep(seconds)  # noqa: ASYNC251 (the point of this task)


class Custom(Exception):
    def __init__(self, a: int, b: int) -> None:  # not picklable: two required arguments
        super().__init__(f"{a}/{b}")


@app.task(queue=QUEUE, process=True)
def fail(kind: str) -> None:
    if kind == "value":
        raise ValueError("bad value in the subprocess")
    if kind == "custom":
        raise Custom(1, 2)
    raise SystemExit(7)
