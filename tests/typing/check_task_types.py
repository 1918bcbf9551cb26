"""Static typing test: run by mypy (``make typecheck``), never executed.

A wrong argument to ``enqueue`` must be a type error; the lines marked ``type: ignore[...]``
prove it, because mypy's ``warn_unused_ignores`` fails the check if they stop being errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from typing_extensions import assert_type

from rq_stream import Depends, Job, JobContext, RqStream, WorkerInfo, current_job, worker_state
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
    assert_type(await add.options(expires_s=30).enqueue(1, 2), Job[int])
    assert_type(add.call(1, 2).options(expires_at=datetime.now(timezone.utc)), Call[int])
    assert_type(await app.pause("q"), bool)
    assert_type(await app.resume("q"), bool)

    await add.enqueue(1, "2")  # type: ignore[arg-type]
    await add.enqueue(1)  # type: ignore[call-arg]
    await add.enqueue(1, 2, 3)  # type: ignore[call-arg]
    await add.enqueue(x=1, z=2)  # type: ignore[call-arg]
    await shout.enqueue("hi", times="2")  # type: ignore[arg-type]
    await add.options(job_id=1).enqueue(1, 2)  # type: ignore[arg-type]
    add.options(timeout=3)  # type: ignore[call-arg]
    add.call(1, 2).options(timeout=3)  # type: ignore[call-arg]
    add.options(expires_s="soon")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- lifespan and Depends
class Db:
    async def fetch(self, order_id: int) -> str:
        return str(order_id)


@dataclass
class State:
    db: Db


@app.lifespan
async def lifespan(worker: WorkerInfo) -> AsyncIterator[State]:
    yield State(Db())


async def get_db(state: State = Depends(worker_state)) -> Db:
    return state.db


async def conn(
    db: Db = Depends(get_db), job: JobContext | None = Depends(current_job)
) -> AsyncIterator[Db]:
    yield db


def settings() -> Iterator[dict[str, str]]:
    yield {}


def attempt(job: JobContext) -> int:
    return job.attempt


@app.task
async def charge(order_id: int, db: Db = Depends(conn), n: int = Depends(attempt)) -> str:
    return await db.fetch(order_id)


@app.task
def report(day: str, *, conf: dict[str, str] = Depends(settings, scope="worker")) -> int:
    return len(conf)


async def check_injection() -> None:
    kept: Callable[[WorkerInfo], AsyncIterator[State]] = lifespan  # @app.lifespan keeps its type
    assert_type(Depends(get_db), Db)  # awaited
    assert_type(Depends(conn), Db)  # yielded (async)
    assert_type(Depends(settings), dict[str, str])  # yielded
    assert_type(Depends(attempt), int)  # returned
    assert_type(Depends(worker_state), Any)  # typed by the parameter's annotation
    assert_type(await charge.enqueue(5), Job[str])  # the injected parameters are not asked for
    assert_type(await report.enqueue("mon"), Job[int])
    job = current_job()
    assert job is not None
    state: State = job.state  # Any: annotate where it is read
    assert_type(state.db, Db)
    assert_type(kept, Callable[[WorkerInfo], AsyncIterator[State]])

    await charge.enqueue("5")  # type: ignore[arg-type]
    await charge.enqueue()  # type: ignore[call-arg]


async def wrong_type(db: int = Depends(get_db)) -> None:  # type: ignore[assignment]
    return None


async def not_a_lifespan(worker: WorkerInfo) -> State:
    return State(Db())


app.lifespan(not_a_lifespan)  # type: ignore[type-var]
