"""Worker lifespan and dependency injection, runnable:

    python -m workers.lifespan_example      # needs $REDIS_URL (default redis://127.0.0.1:6379/0)

or run workers for its tasks with:  rq-stream worker workers.lifespan_example:app --processes 2

Each worker process opens one SQLite connection (standing in for a database pool) in the app's
lifespan and closes it when it stops. Each job gets a transaction from a provider that commits
when the task returns and rolls back when it raises; the price list is loaded once per worker
(``scope="worker"``); an audit tag is built from the job being run.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio

from rq_stream import (
    Backoff,
    Depends,
    JobContext,
    RqStream,
    TaskFailed,
    Worker,
    WorkerInfo,
    worker_state,
)

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "lifespan"))
DB_PATH = os.environ.get("LIFESPAN_EXAMPLE_DB") or os.path.join(
    tempfile.gettempdir(), "rq_stream_lifespan_example.sqlite3"
)


@dataclass(frozen=True)
class State:
    """What every task of this worker shares, typed: tasks ask for it with
    ``state: State = Depends(worker_state)``."""

    db: sqlite3.Connection
    writer: anyio.Lock = field(default_factory=anyio.Lock)  # one transaction at a time


@app.lifespan
async def lifespan(worker: WorkerInfo) -> AsyncIterator[State]:
    db = sqlite3.connect(DB_PATH, isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE IF NOT EXISTS prices (item TEXT PRIMARY KEY, cents INTEGER)")
    db.execute("INSERT OR IGNORE INTO prices VALUES ('coffee', 350), ('bagel', 200)")
    db.execute("CREATE TABLE IF NOT EXISTS charges (order_id INTEGER PRIMARY KEY, cents, audit)")
    print(f"[worker {worker.pid}] database opened (queues: {', '.join(worker.queues)})")
    try:
        yield State(db)
    finally:
        db.close()
        print(f"[worker {worker.pid}] database closed")


async def transaction(state: State = Depends(worker_state)) -> AsyncIterator[sqlite3.Connection]:
    """One transaction per job: committed if the task returns, rolled back if it raises."""
    async with state.writer:
        state.db.execute("BEGIN")
        try:
            yield state.db
        except BaseException:
            state.db.execute("ROLLBACK")
            raise
        state.db.execute("COMMIT")


def price_list(state: State = Depends(worker_state)) -> dict[str, int]:
    """Loaded once per worker process (it is used with scope="worker")."""
    return dict(state.db.execute("SELECT item, cents FROM prices").fetchall())


def audit(job: JobContext) -> str:
    return f"{job.job_id[:8]} attempt {job.attempt}"


@app.task(result_ttl_s=600, retries=1, backoff=Backoff(base_s=0.05, jitter=False))
async def charge(
    order_id: int,
    item: str,
    db: sqlite3.Connection = Depends(transaction),
    prices: dict[str, int] = Depends(price_list, scope="worker"),
    tag: str = Depends(audit),
) -> int:
    db.execute("INSERT OR REPLACE INTO charges VALUES (?, ?, ?)", (order_id, None, tag))
    cents = prices[item]  # an unknown item raises: the insert above is rolled back
    db.execute("UPDATE charges SET cents = ? WHERE order_id = ?", (cents, order_id))
    return cents


async def main() -> None:
    orders = [(1, "coffee"), (2, "bagel"), (3, "caviar")]
    async with app:
        jobs = [await charge.enqueue(order_id, item) for order_id, item in orders]
        await Worker(app, concurrency=4, burst=True, delayed_max_sleep_s=0.05).run()
        for (order_id, item), job in zip(orders, jobs, strict=True):
            try:
                print(f"charge({order_id}, {item!r}) -> {await job.result(timeout_s=10)} cents")
            except TaskFailed as exc:
                print(f"charge({order_id}, {item!r}) failed: {exc.exc_type}: {exc.message}")
    with sqlite3.connect(DB_PATH) as db:
        rows = db.execute("SELECT order_id, cents FROM charges ORDER BY order_id").fetchall()
    print(f"charges in the database: {rows}")


if __name__ == "__main__":
    anyio.run(main)
