"""Static typing test: run by mypy (``make typecheck``), never executed.

A wrong argument to ``enqueue`` must be a type error; the lines marked ``type: ignore[...]``
prove it, because mypy's ``warn_unused_ignores`` fails the check if they stop being errors.
"""

from __future__ import annotations

from typing_extensions import assert_type

from rq_stream import Job, RqStream
from rq_stream.client.task import Call

app = RqStream("redis://127.0.0.1:6379/0", prefix="typing")


@app.task(queue="default", result_ttl_s=3600)
async def add(x: int, y: int) -> int:
    return x + y


@app.task
def shout(text: str, *, times: int = 1) -> str:
    return text.upper() * times


@app.task(process=True)
def crunch(n: int) -> float:
    return n / 3


async def check() -> None:
    job = await add.enqueue(1, 2)
    assert_type(job, Job[int])
    assert_type(await job.result(timeout_s=5), int)
    assert_type(await shout.enqueue("hi", times=2), Job[str])
    assert_type(await add.options(job_id="x", delay_s=1).enqueue(1, 2), Job[int])
    assert_type(add.call(1, 2), Call[int])
    assert_type(await crunch.enqueue(9), Job[float])
    assert_type(add.call(1, 2).options(delay_s=1), Call[int])
    assert_type(add.options(queue="q").call(1, 2).options(job_id="y"), Call[int])

    await add.enqueue(1, "2")  # type: ignore[arg-type]
    await add.enqueue(1)  # type: ignore[call-arg]
    await add.enqueue(1, 2, 3)  # type: ignore[call-arg]
    await add.enqueue(x=1, z=2)  # type: ignore[call-arg]
    await shout.enqueue("hi", times="2")  # type: ignore[arg-type]
    await add.options(job_id=1).enqueue(1, 2)  # type: ignore[arg-type]
    add.options(timeout=3)  # type: ignore[call-arg]
    add.call(1, 2).options(timeout=3)  # type: ignore[call-arg]
