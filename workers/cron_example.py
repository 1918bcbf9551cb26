"""Cron and periodic tasks, runnable:

    python -m workers.cron_example      # needs $REDIS_URL (default redis://127.0.0.1:6379/0)

or run as many workers as you like (each tick still runs once):

    rq-stream worker workers.cron_example:app      # in three terminals
    rq-stream cron workers.cron_example:app list

``heartbeat`` runs every second and counts its runs per tick in Redis; ``report`` runs at 07:00
New York time on weekdays with an argument; ``tidy`` every five minutes, Berlin time.
"""

from __future__ import annotations

import os
from datetime import timedelta

import anyio

from rq_stream import RqStream, Worker, current_job

app = RqStream(
    os.environ.get("REDIS_URL"),
    prefix=os.environ.get("RQ_STREAM_PREFIX", "cron"),
    lease_s=float(os.environ.get("CRON_LEASE_S", "30")),
)
RUNS = f"{app.prefix}:example:runs"
"""Hash: job id (one per tick: cron:<schedule>:<tick ms>) -> how many times it ran."""


@app.cron(every=timedelta(seconds=1))
async def heartbeat() -> None:
    job = current_job()
    assert job is not None
    await app.redis.hincrby(RUNS, job.job_id, 1)


@app.cron("*/5 * * * *", tz="Europe/Berlin")
async def tidy() -> None:
    print("tidying up")


@app.task
async def report(kind: str) -> str:
    return f"{kind} report"


app.schedule(report.call("daily"), cron="0 7 * * 1-5", tz="America/New_York", name="report")


async def main() -> None:
    async with app:
        await app.redis.delete(RUNS)
        worker = Worker(app, handle_signals=False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await anyio.sleep(3.5)
            worker.request_stop()
        runs = {k.decode(): int(v) for k, v in (await app.redis.hgetall(RUNS)).items()}
        print(f"heartbeat ran {sum(runs.values())} times for {len(runs)} ticks")
        for s in await app.list_schedules():
            print(f"{s.name}: {s.when} ({s.tz}), next run {s.next_run:%Y-%m-%d %H:%M:%S} UTC")


if __name__ == "__main__":
    anyio.run(main)
