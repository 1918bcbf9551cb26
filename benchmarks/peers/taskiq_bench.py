"""taskiq + taskiq-redis under benchmark: ``taskiq worker taskiq_bench:broker --workers N``.

``BENCH_TASKIQ_BROKER=stream`` (default): RedisStreamBroker with RedisAsyncResultBackend, what
the taskiq-redis README shows first (acknowledged delivery). ``list``: ListQueueBroker (LPUSH /
BRPOP, no acknowledgement), with the same result backend.
"""

from __future__ import annotations

import asyncio
import os
import time

from probe import probe, redis_url
from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend, RedisStreamBroker

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
KIND = os.environ.get("BENCH_TASKIQ_BROKER", "stream")
QUEUE = "taskiq"


def _broker(url: str) -> ListQueueBroker | RedisStreamBroker:
    results: RedisAsyncResultBackend[object] = RedisAsyncResultBackend(redis_url=url)
    if KIND == "list":
        return ListQueueBroker(url=url, queue_name=QUEUE).with_result_backend(results)
    return RedisStreamBroker(url=url, queue_name=QUEUE).with_result_backend(results)


broker = _broker(URL)


@broker.task(task_name="noop")
async def noop() -> None:
    probe.hit()


@broker.task(task_name="sleep")
async def sleep() -> None:
    started_at = time.time()
    await asyncio.sleep(0.01)
    probe.hit(started_at=started_at)


@broker.task(task_name="stamp")
async def stamp(enqueued_at: float) -> None:
    probe.hit(enqueued_at)


TASKS = {"noop": noop, "sleep": sleep}


class Client:
    bulk_note = "no bulk API: asyncio.gather of task.kiq(), 1,000 at a time"

    def __init__(self) -> None:
        if redis_url() != URL:
            raise RuntimeError("BENCH_REDIS_URL changed after import")

    async def start(self) -> None:
        await broker.startup()

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        if kind == "stamp":
            await stamp.kiq(enqueued_at)
        else:
            await TASKS[kind].kiq()

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        from drive import gather_bulk

        await gather_bulk(self, kind, n)

    async def backlog(self) -> int:
        from probe import Resp

        client = Resp(URL)
        try:
            if KIND == "list":
                return int(client.call(("LLEN", QUEUE)))
            return int(client.call(("XLEN", QUEUE)))
        finally:
            client.close()

    async def close(self) -> None:
        await broker.shutdown()
