"""Progress reports (``current_job().report_progress``) sent by one task of the worker, so a task
never waits for Redis to report, from the event loop or from a thread.

Reports wait in a dict keyed by job (a newer report replaces an unsent one: the latest wins);
the sender writes each with job_progress.lua (stored on the record, published if watched).
Before a job's outcome is written the executor flushes its report (only when some report is
unsent: a worker whose tasks never report pays nothing per job).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from rq_stream import codec
from rq_stream.keys import AppKeys
from rq_stream.scripts import Scripts
from rq_stream.worker.job_context import JobContext
from rq_stream.worker.resilience import Outage

_Key = tuple[str, str]  # (queue, job id)


class ProgressSender:
    def __init__(self, scripts: Scripts, keys: AppKeys, log: Any) -> None:
        self._scripts = scripts
        self._keys = keys
        self._log = log
        self._lock = threading.Lock()
        self._pending: dict[_Key, tuple[int, bytes]] = {}
        self._sending: set[_Key] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._wake = asyncio.Event()
        self._sent = asyncio.Event()
        self.busy = False
        """Some report is unsent (read by the executor before each outcome: a bool)."""

    def report(self, job: JobContext, value: float, message: str) -> None:
        """From the loop's thread or any other."""
        payload = codec.dumps([value, message])
        with self._lock:
            self._pending[(job.queue, job.job_id)] = (job.attempt, payload)
            self.busy = True
        loop = self._loop
        if loop is None:
            return  # the sender has not started: it sends what is pending when it does
        if threading.get_ident() == self._thread:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Send reports as they come, until cancelled (with the worker)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, {}
                self._sending = set(batch)
            for (queue, job_id), (attempt, payload) in batch.items():
                await self._send(queue, job_id, attempt, payload)
            with self._lock:
                self._sending = set()
                self.busy = bool(self._pending)
            sent, self._sent = self._sent, asyncio.Event()
            sent.set()

    async def _send(self, queue: str, job_id: str, attempt: int, payload: bytes) -> None:
        k = self._keys.queue(queue)
        try:
            await self._scripts.run(
                "job_progress", [k.job(job_id)], [attempt, payload, k.done_channel(job_id)]
            )
        except Outage.errors as exc:  # progress is advisory: the job goes on
            self._log.warning("could not store a job's progress", job_id=job_id, error=str(exc))

    async def flush(self, queue: str, job_id: str) -> None:
        """Wait until the job's reports are written (before its outcome is)."""
        key = (queue, job_id)
        while self._loop is not None and (key in self._pending or key in self._sending):
            self._wake.set()
            await self._sent.wait()


__all__ = ["ProgressSender"]
