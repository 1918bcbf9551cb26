"""Waiting for results without polling, on the application's shared pub/sub connection.

A waiter subscribes to its job's channel and waits for the server to confirm, then reads the
job's record: a job that finished before the subscription is seen in the record, one that
finishes after is seen on the channel. If the pub/sub connection drops, the waiter reads the
record again after the reconnection, so no outcome is missed during an outage.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import anyio
from redis.asyncio import Redis

from .keys import AppKeys
from .notify import Channels

if TYPE_CHECKING:
    from .job import Job

Outcome = tuple[bytes, bytes]
"""(b"S", value) succeeded, (b"F", error) failed, (b"N", b"") not found, (b"", b"") timed out."""

_FINAL = {b"succeeded": b"S", b"failed": b"F"}


class Results:
    def __init__(self, client: Redis, keys: AppKeys, channels: Channels) -> None:
        self._r = client
        self._keys = keys
        self._channels = channels

    async def read(self, job: Job[Any]) -> Outcome | None:
        """The stored outcome, (b"N", b"") if the job is unknown, None while it is unfinished."""
        status, result, err = await self._r.hmget(
            self._keys.queue(job.queue).job(job.id), ["s", "r", "err"]
        )
        if status is None:
            return (b"N", b"")
        code = _FINAL.get(status)
        if code is None:
            return None
        return (code, (result if code == b"S" else err) or b"")

    async def wait(self, job: Job[Any], timeout_s: float | None) -> Outcome:
        found = await self.read(job)
        if found is not None:
            return found
        channel = self._keys.queue(job.queue).done_channel(job.id)
        try:
            with anyio.fail_after(timeout_s):
                async with self._channels.listen(channel) as inbox:
                    while (found := await self.read(job)) is None:
                        message = await inbox.next(math.inf)
                        if message is not None:  # None: the listener reconnected; read again
                            return (message[:1], message[1:])
                    return found
        except TimeoutError:
            return (b"", b"")
