"""Progress and cancel, runnable:

    python -m workers.progress_example      # needs $REDIS_URL (default redis://127.0.0.1:6379/0)

or run workers for its tasks with ``rq-stream worker workers.progress_example:app``, then
``rq-stream enqueue workers.progress_example:app resize --args '[10]'``,
``rq-stream result workers.progress_example:app JOB_ID --watch`` (a progress bar) and
``rq-stream cancel workers.progress_example:app JOB_ID``.

``resize`` reports its progress; the script watches it to the end. ``export`` is a plain
``def`` (it runs in a thread) that checks ``current_job().cancelled`` and stops early;
``crawl`` is an ``async def`` interrupted by ``CancelledError``. A job cancelled while it
waits never runs.
"""

from __future__ import annotations

import os
import time

import anyio

from rq_stream import JobCancelled, JobStatus, Progress, RqStream, Worker, current_job

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "progress"))


@app.task
async def resize(images: int) -> int:
    job = current_job()
    assert job is not None
    for i in range(1, images + 1):
        await anyio.sleep(0.05)  # resizing one image
        job.report_progress(i / images, f"resized {i}/{images}")
    return images


@app.task
def export(rows: int) -> int:
    """A plain def runs in a thread, which cannot be interrupted: it checks the flag."""
    job = current_job()
    assert job is not None
    for i in range(rows):
        if job.cancelled:
            return i  # cleaned up, stopped early; the job still ends cancelled
        if i % 100 == 0:
            job.report_progress(i / rows, f"exported {i}/{rows}")  # from the thread
        time.sleep(0.001)
    return rows


@app.task
async def crawl(pages: int) -> int:
    for _ in range(pages):
        await anyio.sleep(0.1)  # a cancel interrupts this with CancelledError
    return pages


async def until(job_status: JobStatus, *jobs: object) -> None:
    for job in jobs:
        while await job.status() != job_status:  # type: ignore[attr-defined]
            await anyio.sleep(0.02)


async def main() -> None:
    async with app, anyio.create_task_group() as tg:
        worker = Worker(app, concurrency=4, handle_signals=False)
        tg.start_soon(worker.run)

        job = await resize.enqueue(5)
        async for update in job.watch():  # progress as it comes, then the final status
            if isinstance(update, Progress):
                print(f"progress {update.value:.0%} {update.message}")
            else:
                print(f"resize ended {update.value}: {await job.result()} images")
        print("latest progress:", await job.progress())

        waiting = await crawl.options(delay_s=60).enqueue(3)
        print("cancel a scheduled job:", await waiting.cancel(), await waiting.status())
        long_crawl, long_export = await crawl.enqueue(600), await export.enqueue(60_000)
        await until(JobStatus.RUNNING, long_crawl, long_export)
        for running in (long_crawl, long_export):
            await running.cancel()
            try:
                await running.result(timeout_s=10)
            except JobCancelled as exc:
                print(exc)
        print("cancel it again:", await long_crawl.cancel())
        worker.request_stop()


if __name__ == "__main__":
    anyio.run(main)
