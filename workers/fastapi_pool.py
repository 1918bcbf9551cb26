"""A FastAPI app and its workers sharing one database: each process opens the same pool in its own
lifespan (FastAPI's for the web process, ``@tasks.lifespan`` for every worker process), handlers
and tasks get a connection from it through their ``Depends``.

Run it (two terminals, Redis at $REDIS_URL):

    rq-stream worker workers.fastapi_pool:tasks --processes 2
    uvicorn workers.fastapi_pool:api

    curl -X POST localhost:8000/orders -H 'content-type: application/json' \\
         -d '{"item": "coffee", "cents": 350}'
    # {"order_id":1,"status":"pending","charged_by":null}
    curl 'localhost:8000/orders/1?wait_s=5'
    # {"order_id":1,"status":"charged","charged_by":"vm:4242:1a2b3c"}

The pool is a few SQLite connections (``$FASTAPI_POOL_DB``, a file both processes open) standing in
for asyncpg's or psycopg's pool: the shape of the code is the same.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import anyio
import fastapi
from fastapi import FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, Field

import rq_stream
from rq_stream import JobContext, ResultTimeout, RqStream, TaskFailed, WorkerInfo, worker_state

DB_PATH = os.environ.get("FASTAPI_POOL_DB") or os.path.join(
    tempfile.gettempdir(), "rq_stream_fastapi_pool.sqlite3"
)
SCHEMA = "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item, cents, charged_by)"


class Pool:
    """A tiny connection pool: ``async with pool.acquire() as conn``."""

    opened = closed = 0  # how many pools this process opened and closed (the tests count them)

    def __init__(self, path: str, size: int) -> None:
        self._free = [sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                      for _ in range(size)]  # fmt: skip
        self._slots = anyio.Semaphore(size)
        self._free[0].execute("PRAGMA journal_mode=WAL")
        self._free[0].execute(SCHEMA)
        Pool.opened += 1

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[sqlite3.Connection]:
        async with self._slots:
            conn = self._free.pop()
            try:
                yield conn
            finally:
                self._free.append(conn)

    def close(self) -> None:
        for conn in self._free:
            conn.close()
        Pool.closed += 1


@asynccontextmanager
async def open_pool(size: int = 4) -> AsyncIterator[Pool]:
    """What both lifespans open: the web process's and every worker process's."""
    pool = Pool(DB_PATH, size)
    try:
        yield pool
    finally:
        pool.close()


# ---------------------------------------------------------------------- the worker side
tasks = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "pool"))


@dataclass(frozen=True)
class WorkerState:
    pool: Pool


@tasks.lifespan
async def worker_lifespan(worker: WorkerInfo) -> AsyncIterator[WorkerState]:
    async with open_pool(size=worker.concurrency) as pool:
        yield WorkerState(pool)


async def worker_connection(
    state: WorkerState = rq_stream.Depends(worker_state),
) -> AsyncIterator[sqlite3.Connection]:
    async with state.pool.acquire() as conn:
        yield conn


@tasks.task(result_ttl_s=600, retries=2)
async def charge(
    order_id: int,
    conn: sqlite3.Connection = rq_stream.Depends(worker_connection),
    job: JobContext | None = rq_stream.Depends(rq_stream.current_job),
) -> str:
    """Charge an order (stands in for a call to a payment API), then record who charged it."""
    assert job is not None
    (cents,) = conn.execute("SELECT cents FROM orders WHERE id = ?", (order_id,)).fetchone()
    await anyio.sleep(0.01)  # the payment API
    conn.execute("UPDATE orders SET charged_by = ? WHERE id = ?", (job.worker, order_id))
    return f"charged {cents} cents"


# ---------------------------------------------------------------------- the web side
@asynccontextmanager
async def web_lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with tasks, open_pool() as pool:  # Redis clients and the pool, once per web process
        app.state.pool = pool
        yield


api = FastAPI(title="FastAPI and rq_stream workers sharing a database pool", lifespan=web_lifespan)


def web_pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


async def web_connection(request: Request) -> AsyncIterator[sqlite3.Connection]:
    async with web_pool(request).acquire() as conn:
        yield conn


class OrderIn(BaseModel):
    item: str = Field(min_length=1)
    cents: int = Field(gt=0)


class OrderOut(BaseModel):
    order_id: int
    status: str
    charged_by: str | None = None


@api.post("/orders", status_code=201)
async def create_order(
    order: OrderIn, conn: sqlite3.Connection = fastapi.Depends(web_connection)
) -> OrderOut:
    cursor = conn.execute(
        "INSERT INTO orders (item, cents) VALUES (?, ?)", (order.item, order.cents)
    )
    assert cursor.lastrowid is not None
    await charge.options(job_id=f"charge-{cursor.lastrowid}").enqueue(cursor.lastrowid)
    return OrderOut(order_id=cursor.lastrowid, status="pending")


@api.get("/orders/{order_id}")
async def get_order(
    order_id: int,
    wait_s: float = Query(default=0.0, ge=0.0, le=30.0),
    pool: Pool = fastapi.Depends(web_pool),
) -> OrderOut:
    if wait_s:  # waits on a notification, holding no connection
        with suppress(ResultTimeout, TaskFailed):
            await tasks.job(f"charge-{order_id}").result(timeout_s=wait_s)
    async with pool.acquire() as conn:
        row = conn.execute("SELECT charged_by FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None:
        raise HTTPException(404, f"no order {order_id}")
    return OrderOut(order_id=order_id, status="charged" if row[0] else "pending", charged_by=row[0])
