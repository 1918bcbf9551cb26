"""Waiting for results without polling: one shared pub/sub connection per application.

A waiter subscribes to its job's channel, waits for the server to confirm the subscription, then
reads the job's record once: a job that finished before the subscription is seen in the record,
one that finishes after is seen on the channel. If the pub/sub connection drops, every waiter
reads its record again after the listener reconnects, so no outcome is missed during an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import anyio
import structlog
from redis import exceptions as rex
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from .keys import AppKeys

if TYPE_CHECKING:
    from .job import Job

log = structlog.get_logger("rq_stream.results")

Outcome = tuple[bytes, bytes]
"""(b"S", value) succeeded, (b"F", error) failed, (b"N", b"") not found, (b"", b"") timed out."""

_FINAL = {b"succeeded": b"S", b"failed": b"F"}


class Results:
    def __init__(self, client: Redis, keys: AppKeys) -> None:
        self._r = client
        self._keys = keys
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._waiters: dict[str, set[asyncio.Future[Outcome | None]]] = defaultdict(set)
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()

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
        fut: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._waiters[channel].add(fut)
        try:
            with anyio.fail_after(timeout_s):
                await self._subscribe(channel)
                while True:
                    found = await self.read(job)
                    if found is not None:
                        return found
                    got = await fut
                    if got is not None:
                        return got
                    # None: the listener reconnected; read the record again.
                    fut = asyncio.get_running_loop().create_future()
                    self._waiters[channel].add(fut)
        except TimeoutError:
            return (b"", b"")
        finally:
            self._waiters[channel].discard(fut)
            if not self._waiters[channel]:
                del self._waiters[channel]
                await self._unsubscribe(channel)

    async def _subscribe(self, channel: str) -> None:
        async with self._lock:
            if self._pubsub is None:
                self._pubsub = self._r.pubsub()
            confirmed = self._confirm.get(channel)
            if confirmed is None:
                confirmed = asyncio.get_running_loop().create_future()
                self._confirm[channel] = confirmed
                await self._pubsub.subscribe(channel)
            if self._listener is None or self._listener.done():
                self._listener = asyncio.create_task(self._listen(), name="rq_stream-results")
        await asyncio.shield(confirmed)

    async def _unsubscribe(self, channel: str) -> None:
        self._confirm.pop(channel, None)
        if self._pubsub is not None:
            with contextlib.suppress(rex.RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def _listen(self) -> None:
        assert self._pubsub is not None
        failures = 0
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=5.0)
                if failures:
                    log.info("result listener reconnected")
                    failures = 0
                    self._wake_all()
            except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
                failures += 1
                delay = min(5.0, 0.1 * 2**failures) * (0.5 + random.random() / 2)
                log.warning("result listener lost its connection; retrying", error=str(exc))
                await asyncio.sleep(delay)
                continue
            if msg is not None:
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        channel = msg["channel"].decode()
        if msg["type"] == "subscribe":
            confirmed = self._confirm.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        elif msg["type"] == "message":
            data: bytes = msg["data"]
            for fut in self._waiters.get(channel, ()):
                if not fut.done():
                    fut.set_result((data[:1], data[1:]))

    def _wake_all(self) -> None:
        for channel, futs in self._waiters.items():
            confirmed = self._confirm.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            for fut in futs:
                if not fut.done():
                    fut.set_result(None)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        self._confirm.clear()
