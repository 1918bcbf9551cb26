"""Concurrency per key: at most 2 exports run at once per tenant, across every worker and
process (here two workers embedded in this process), and a job over the limit waits without
using an attempt.

    REDIS_URL=redis://127.0.0.1:6379/0 python -m workers.keylimit_example

The same from a shell: ``rq-stream worker workers.keylimit_example:app`` in a few terminals.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter

from rq_stream import RqStream, Worker, current_job

app = RqStream(
    os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "keylimit-example")
)
running: Counter[str] = Counter()
peak: Counter[str] = Counter()
attempts: set[int] = set()


@app.task(queue="exports", concurrency=2, concurrency_key=lambda tenant, **_: tenant,
          max_attempts=1)  # fmt: skip
async def export(tenant: str, report: int) -> str:
    job = current_job()
    assert job is not None
    attempts.add(job.attempt)
    running[tenant] += 1
    peak[tenant] = max(peak[tenant], running[tenant])
    await asyncio.sleep(0.1)
    running[tenant] -= 1
    return f"{tenant}/{report}"


async def main() -> None:
    async with app:
        workers = [Worker(app, queues=["exports"], concurrency=8, handle_signals=False)
                   for _ in range(2)]  # fmt: skip
        runners = [asyncio.create_task(w.run()) for w in workers]
        jobs = await app.enqueue_many(
            [export.call(tenant, n) for n in range(6) for tenant in ("acme", "globex")]
        )
        results = [await job.result(timeout_s=30) for job in jobs]
        print(f"{len(results)} exports done")
        for tenant in sorted(peak):
            print(f"{tenant}: at most {peak[tenant]} at once")
        print(f"attempts used: {sorted(attempts)}")
        for w in workers:
            w.request_stop()
        await asyncio.gather(*runners)
        await app.redis.delete(*[app.keys.queue("exports").job(j.id) for j in jobs])


if __name__ == "__main__":
    asyncio.run(main())
