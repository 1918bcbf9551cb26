"""The bare loop of ``limit_bench.py`` written with redis-py's asyncio client instead of raw
RESP: the same commands and round trips (XREADGROUP COUNT 500; one non-transactional pipeline
of SET per result + XACK + XDEL), so the gap between the two rows is what the client library
costs per job. Reported beside the limit, for context; the targets use the raw loop.
"""

from __future__ import annotations

import asyncio
import os

import msgpack
import redis.asyncio as redis
from limit_bench import BATCH, BULK_CHUNK, GROUP, RESULT, RESULT_TTL_S, STREAM, payload, run
from probe import redis_url
from redis.exceptions import ResponseError


async def work(r: redis.Redis, consumer: str) -> None:
    while True:
        reply = await r.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=BATCH, block=1000)
        if not reply:
            continue
        entries = reply[0][1]
        pipe = r.pipeline(transaction=False)
        for _, fields in entries:
            job = msgpack.unpackb(fields[b"j"])
            pipe.set(RESULT + job["id"].encode(), msgpack.packb(run(job)), ex=RESULT_TTL_S)
        ids = [entry_id for entry_id, _ in entries]
        pipe.xack(STREAM, GROUP, *ids)
        pipe.xdel(STREAM, *ids)
        await pipe.execute()


async def prepare(r: redis.Redis) -> None:
    try:
        await r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def main() -> None:
    r = redis.Redis.from_url(redis_url())
    await prepare(r)
    await work(r, f"c{os.getpid()}")


class Client:
    bulk_note = "pipelined XADD (redis-py), 1,000 per round trip"

    def __init__(self) -> None:
        self.r = redis.Redis.from_url(redis_url())

    async def start(self) -> None:
        await prepare(self.r)

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        await self.r.xadd(STREAM, {"j": payload(kind, enqueued_at)})

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        for start in range(0, n, BULK_CHUNK):
            pipe = self.r.pipeline(transaction=False)
            for _ in range(min(BULK_CHUNK, n - start)):
                pipe.xadd(STREAM, {"j": payload(kind, 0.0)})
            await pipe.execute()

    async def backlog(self) -> int:
        return int(await self.r.xlen(STREAM))

    async def close(self) -> None:
        await self.r.aclose()


if __name__ == "__main__":
    asyncio.run(main())
