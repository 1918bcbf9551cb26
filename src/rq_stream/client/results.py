"""Waiting for results without polling, on the application's shared pub/sub connection.

A waiter subscribes to its job's channel and waits for the server to confirm, then marks the job
as awaited and reads its record in one script (job_watch.lua): a job that finished before that
is seen in the record; one that finishes after is published on the channel, because it is
awaited (completions publish only for awaited jobs: most jobs cost no PUBLISH). If the pub/sub
connection drops, the waiter reads the record again after the reconnection, so no outcome is
missed during an outage.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Protocol

import anyio

from rq_stream.context import Context

Outcome = tuple[bytes, bytes]
"""(b"S", value) succeeded, (b"F", error) failed, (b"C", b"") cancelled, (b"X", reason) expired,
(b"N", b"") not found, (b"", b"") timed out; from ``watch`` also (b"P", progress) (msgpack
``[value, message]``)."""

_FINAL = {b"succeeded": b"S", b"failed": b"F", b"cancelled": b"C", b"expired": b"X"}
_PROGRESS = b"P"


class JobRef(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def queue(self) -> str: ...


class Results:
    """Reads and awaits job outcomes through a context's clients."""

    def __init__(self, ctx: Context) -> None:
        self._r = ctx.redis
        self._keys = ctx.keys
        self._channels = ctx.channels
        self._scripts = ctx.scripts

    async def read(self, job: JobRef, watch: bool = False) -> Outcome | None:
        """The stored outcome, (b"N", b"") if the job is unknown, None while it is unfinished;
        ``watch``: also mark the job as awaited, so its completion is published."""
        key = self._keys.queue(job.queue).job(job.id)
        if watch:
            status, result, err, _ = await self._scripts.run("job_watch", [key], [])
        else:
            status, result, err = await self._r.hmget(key, ["s", "r", "err"])
        return _outcome(status, result, err)

    async def wait(self, job: JobRef, timeout_s: float | None) -> Outcome:
        found = await self.read(job)
        if found is not None:
            return found
        channel = self._keys.queue(job.queue).done_channel(job.id)
        try:
            with anyio.fail_after(timeout_s):
                async with self._channels.listen(channel) as inbox:
                    while (found := await self.read(job, watch=True)) is None:
                        message = await inbox.next(math.inf)
                        while message is not None and message[:1] == _PROGRESS:
                            message = await inbox.next(math.inf)  # progress: not an outcome
                        if message is not None:  # None: the listener reconnected; read again
                            return (message[:1], message[1:])
                    return found
        except TimeoutError:
            return (b"", b"")

    async def watch(self, job: JobRef) -> AsyncIterator[Outcome]:
        """The job's progress updates (b"P", ...) as they are published, then its outcome.
        Subscribes first, then reads the record (and marks the job as watched), so nothing
        published after the read is missed; the latest stored progress comes first."""
        key = self._keys.queue(job.queue).job(job.id)
        channel = self._keys.queue(job.queue).done_channel(job.id)
        last = b""
        async with self._channels.listen(channel) as inbox:
            while True:  # each turn: read the record (first, and after a reconnection)
                status, result, err, progress = await self._scripts.run("job_watch", [key], [])
                if progress and progress != last:
                    last = progress
                    yield (_PROGRESS, progress)
                found = _outcome(status, result, err)
                if found is not None:
                    yield found
                    return
                while (message := await inbox.next(math.inf)) is not None:
                    code, payload = message[:1], message[1:]
                    if code != _PROGRESS:
                        yield (code, payload)
                        return
                    if payload != last:
                        last = payload
                        yield (code, payload)


def _outcome(status: bytes | None, result: bytes | None, err: bytes | None) -> Outcome | None:
    if status is None:
        return (b"N", b"")
    code = _FINAL.get(status)
    if code is None:
        return None
    return (code, (result if code == b"S" else err) or b"")
