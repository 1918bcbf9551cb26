"""rq_stream under benchmark: ``python -m rq_stream worker rqs_bench:app -c N``.

``BENCH_RQS_BACKEND=lists`` declares the queue on the lists backend instead of streams;
``BENCH_RQS_MIDDLEWARE=noop`` registers one middleware whose every hook is a no-op
(``rqs_middleware.py``: what middleware costs by itself); ``BENCH_RQS_METRICS=1`` turns the
Prometheus metrics on (``rq_stream.metrics.Metrics``: counters and histograms on every job and
enqueue, with nobody scraping), what metrics cost.
"""

from __future__ import annotations

import asyncio
import os
import time

from probe import probe, redis_url

from rq_stream import RqStream

QUEUE = "bench"
BACKEND = os.environ.get("BENCH_RQS_BACKEND", "streams")

app = RqStream(os.environ.get("BENCH_REDIS_URL"), prefix="bench")
if os.environ.get("BENCH_RQS_MIDDLEWARE") == "noop":
    from rqs_middleware import NoOp

    app.add_middleware(NoOp())
if os.environ.get("BENCH_RQS_METRICS") == "1":
    from rq_stream.metrics import Metrics

    Metrics(app)
app.queue(QUEUE, backend="lists" if BACKEND == "lists" else "streams")


@app.task(name="noop", queue=QUEUE)
async def noop() -> None:
    probe.hit()


@app.task(name="sleep", queue=QUEUE)
async def sleep() -> None:
    started_at = time.time()
    await asyncio.sleep(0.01)
    probe.hit(started_at=started_at)


@app.task(name="stamp", queue=QUEUE)
async def stamp(enqueued_at: float) -> None:
    probe.hit(enqueued_at)


TASKS = {"noop": noop, "sleep": sleep}


class Client:
    bulk_note = "app.enqueue_many (one script call per 1,000 jobs)"

    def __init__(self) -> None:
        app.url = redis_url()

    async def start(self) -> None:
        await app.connect()
        # The backend is created on first use: surface "lists backend not available" now.
        app.backend(QUEUE)

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        if kind == "stamp":
            await stamp.enqueue(enqueued_at)
        else:
            await TASKS[kind].enqueue()

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        task = TASKS[kind]
        await app.enqueue_many([task.call() for _ in range(n)])

    async def backlog(self) -> int:
        return (await app.backend(QUEUE).counts()).backlog

    async def close(self) -> None:
        await app.close()
