"""The README quickstart, runnable: `python -m workers.quickstart` prints 3."""

from __future__ import annotations

import asyncio
import os

from rq_stream import RqStream, Worker

app = RqStream(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), prefix="myapp")


@app.task(queue="default", result_ttl_s=3600)
async def add(x: int, y: int) -> int:
    return x + y


async def main() -> None:
    async with app:
        job = await add.enqueue(1, 2)  # Job[int]; add.enqueue(1, "2") is a type error
        await Worker(app, queues=["default"], concurrency=100, burst=True).run()
        print(await job.result(timeout_s=5))  # 3


if __name__ == "__main__":
    asyncio.run(main())
