"""``rq-stream result --watch``: a job's progress as a bar until it ends."""

from __future__ import annotations

import sys
from typing import Any

import anyio

from rq_stream.client.job import Job, JobStatus, Progress

BAR_WIDTH = 30


def text_bar(p: Progress) -> str:
    """``[#########---------------------]  30% resized 3/10``"""
    done = round(p.value * BAR_WIDTH)
    bar = "#" * done + "-" * (BAR_WIDTH - done)
    return f"[{bar}] {p.value:4.0%} {p.message}".rstrip()


class _Bar:
    """A rich progress bar when stdout is a terminal and rich is installed; else one text bar
    per update (logs and pipes keep every line)."""

    def __init__(self, job: Job[Any]) -> None:
        self.progress: Any = None
        self.row: Any = None
        if sys.stdout.isatty():
            try:
                from rich.progress import Progress as RichProgress
            except ImportError:
                return
            self.progress = RichProgress()
            self.row = self.progress.add_task(f"job {job.id}", total=1.0)

    def show(self, p: Progress) -> None:
        if self.progress is None:
            print(text_bar(p), flush=True)
        else:
            self.progress.update(self.row, completed=p.value, description=p.message or "")

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


async def watch(job: Job[Any], timeout_s: float | None) -> JobStatus | None:
    """Show the job's progress until it ends (its final status), or None after ``timeout_s``."""
    with _Bar(job) as bar, anyio.move_on_after(timeout_s):
        async for update in job.watch():
            if isinstance(update, Progress):
                bar.show(update)
            else:
                return update
    return None
