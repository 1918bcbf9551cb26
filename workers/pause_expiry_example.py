"""Pausing a queue and job expiry, in one run (a worker embedded in this process).

    REDIS_URL=redis://127.0.0.1:6379/0 python -m workers.pause_expiry_example

The same from a shell, beside ``rq-stream worker workers.pause_expiry_example:app``:
``rq-stream pause workers.pause_expiry_example:app emails``, ``rq-stream info ...`` (the queue
shows ``emails (paused)``), ``rq-stream resume workers.pause_expiry_example:app emails``.
"""

from __future__ import annotations

import asyncio
import os

from rq_stream import JobExpired, RqStream, Worker

app = RqStream(
    os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "pause-example")
)
sent: list[str] = []


@app.task(queue="emails")
async def send(to: str) -> str:
    await asyncio.sleep(0.2)
    sent.append(to)
    return f"sent to {to}"


@app.task(queue="emails", expires_s=60)  # a default: not started within a minute, not sent
async def reminder(to: str) -> str:
    sent.append(f"reminder {to}")
    return f"reminded {to}"


async def main() -> None:
    async with app:
        worker = Worker(app, queues=["emails"], concurrency=1, prefetch=0, handle_signals=False)
        runner = asyncio.create_task(worker.run())

        await app.pause("emails")  # workers start nothing from "emails"; enqueues go on
        jobs = [await send.enqueue(f"user{i}@example.com") for i in range(3)]
        await asyncio.sleep(1.5)
        print(f"paused: {len(sent)} sent, {len(jobs)} waiting")
        await app.resume("emails")  # taken again at once
        for job in jobs:
            print(await job.result(timeout_s=10))

        # Expiry: a job not started by its deadline is never run. One slow job keeps the
        # single executor busy past the reminder's 0.1 s deadline.
        busy = await send.enqueue("slow@example.com")
        late = await reminder.options(expires_s=0.1).enqueue("late@example.com")
        await busy.result(timeout_s=10)
        try:
            await late.result(timeout_s=10)
        except JobExpired as exc:
            print(f"{(await late.status()).value}: {exc.reason.split(':')[0]}")
        worker.request_stop()
        await runner
        await app.redis.delete(*[app.keys.queue("emails").job(j.id) for j in [*jobs, busy, late]])


if __name__ == "__main__":
    asyncio.run(main())
