"""Serializers: a JSON app that a producer in another language can feed, with a pydantic model
as an argument and a dataclass as the result.

    REDIS_URL=redis://127.0.0.1:6379/0 python -m workers.serializers_example

It enqueues one job from Python and one the way a Node or Go producer would (raw Redis
commands, JSON), runs a worker until the queue is empty, then reads both results: through the
typed handle (a ``Receipt``) and raw from Redis (JSON, as the other language would).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import time

from pydantic import BaseModel

from rq_stream import PydanticSerializer, RqStream, Worker

app = RqStream(
    os.environ.get("REDIS_URL"),
    prefix=os.environ.get("RQ_STREAM_PREFIX", "serializers-example"),
    serializer=PydanticSerializer(),  # JSON inside: PydanticSerializer(JsonSerializer())
)


class Order(BaseModel):
    id: int
    items: list[str]
    placed_at: dt.datetime


@dataclasses.dataclass
class Receipt:
    order_id: int
    count: int
    placed_at: dt.datetime


@app.task
async def checkout(order: Order) -> Receipt:
    return Receipt(order.id, len(order.items), order.placed_at)


async def enqueue_like_another_language(job_id: str) -> None:
    """What a producer in any language does: write the job record and the JSON envelope."""
    k = app.keys.queue("default")
    envelope = {
        "v": 1,
        "job_id": job_id,
        "task": checkout.name,  # "workers.serializers_example.checkout"
        "args": [{"id": 2, "items": ["bread"], "placed_at": "2030-01-01T09:00:00Z"}],
    }
    async with app.redis.pipeline(transaction=True) as tx:  # MULTI ... EXEC
        tx.hset(k.job(job_id), mapping={"s": "queued", "n": checkout.name,
                                        "t": int(time.time() * 1000)})  # fmt: skip
        tx.xadd(k.stream, {"j": job_id, "d": json.dumps(envelope)})
        await tx.execute()


async def main() -> None:
    async with app:
        placed = dt.datetime(2030, 1, 1, 8, 30, tzinfo=dt.timezone.utc)
        job = await checkout.enqueue(Order(id=1, items=["tea", "milk"], placed_at=placed))
        raw_id = f"from-node-{os.getpid()}"
        await enqueue_like_another_language(raw_id)
        await Worker(app, burst=True, handle_signals=False).run()
        receipt = await job.result(timeout_s=5)
        print(f"typed result: {receipt!r}")
        raw = await app.redis.hget(app.keys.queue("default").job(raw_id), "r")
        print(f"raw result of {raw_id}: {raw.decode()}")


if __name__ == "__main__":
    asyncio.run(main())
