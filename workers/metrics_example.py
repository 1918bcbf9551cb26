"""Prometheus metrics of a producer and a worker in one process: jobs are enqueued, the queue
gauges are scraped while they wait, a burst worker runs them, and the counters are scraped.

    REDIS_URL=redis://127.0.0.1:6379/0 python -m workers.metrics_example

In production, run ``rq-stream worker workers.metrics_example:app --metrics-port 9100`` and
point Prometheus at ``:9100/metrics``; a web service that enqueues mounts
``metrics.asgi_app()`` under ``/metrics`` (see the README's "Metrics (Prometheus)" section).
"""

from __future__ import annotations

import asyncio
import os
import urllib.request
import uuid

from rq_stream import Backoff, RqStream, Worker, current_job
from rq_stream.metrics import Metrics
from rq_stream.testing.server import free_port

app = RqStream(os.environ.get("REDIS_URL"), prefix=f"metrics-example-{uuid.uuid4().hex[:8]}")


@app.task(name="resize")
async def resize(image: int) -> str:
    return f"image {image} resized"


@app.task(name="upload", retries=1, backoff=Backoff(base_s=0.0, cap_s=0.0, jitter=False))
async def upload(image: int) -> None:
    job = current_job()
    if job is not None and job.attempt == 1:
        raise ConnectionError("storage timed out")  # retried once, then it works


def show(port: int, *names: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    for line in text.splitlines():
        if line.startswith(names):
            print(line)


async def main() -> None:
    metrics = Metrics(app)
    port = free_port()
    server = metrics.serve(port, "127.0.0.1")  # rq-stream worker --metrics-port does this
    try:
        async with app:
            await app.enqueue_many([resize.call(i) for i in range(5)] + [upload.call(9)])
            show(port, "rq_stream_queue_depth", "rq_stream_jobs_enqueued_total")
            await Worker(app, burst=True).run()
            names = ("rq_stream_jobs_succeeded_total", "rq_stream_jobs_retried_total")
            show(port, *names, "rq_stream_job_duration_seconds_count", "rq_stream_up")
    finally:
        server.shutdown()
        metrics.close()


if __name__ == "__main__":
    asyncio.run(main())
