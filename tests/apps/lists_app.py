"""Tasks on a lists-backend queue, for in-process tests and worker subprocesses.

``python -m tests.apps.lists_app`` runs one worker configured from the environment (REDIS_URL,
RQ_STREAM_PREFIX, RQS_HEARTBEAT_S, RQS_LEASE_S, RQS_CONCURRENCY, RQS_BURST) so that the tests can
inject short heartbeats, which the ``rq-stream worker`` command does not expose.
"""

from __future__ import annotations

import os

import anyio

from rq_stream import RqStream, Worker

QUEUE = "lq"


def build(url: str | None, prefix: str, lease_s: float = 30.0) -> RqStream:
    """The application; the tests build a twin of it with the same task names."""
    app = RqStream(url, prefix=prefix, lease_s=lease_s)
    app.queue(QUEUE, backend="lists")

    @app.task(name="lists.add", queue=QUEUE)
    async def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="lists.pid_after", queue=QUEUE)
    async def pid_after(seconds: float) -> int:
        """Sleeps, then answers the process id of the worker that ran it."""
        await anyio.sleep(seconds)
        return os.getpid()

    @app.task(name="lists.die", queue=QUEUE, max_attempts=2)
    async def die() -> None:
        os._exit(1)

    return app


app = build(
    os.environ.get("REDIS_URL"),
    os.environ.get("RQ_STREAM_PREFIX", "lists"),
    float(os.environ.get("RQS_LEASE_S", "30")),
)


def main() -> None:
    worker = Worker(
        app,
        queues=[QUEUE],
        concurrency=int(os.environ.get("RQS_CONCURRENCY", "4")),
        burst=os.environ.get("RQS_BURST") == "1",
        heartbeat_s=float(os.environ.get("RQS_HEARTBEAT_S", "5")),
        reclaim_interval_s=float(os.environ.get("RQS_RECLAIM_S", "0.1")),
    )
    anyio.run(worker.run)


if __name__ == "__main__":
    main()
