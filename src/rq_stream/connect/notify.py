"""One shared pub/sub connection per application, for every wait that would otherwise poll:
job results, lock releases, cache fills.

``async with channels.listen(name) as inbox:`` subscribes and waits for the server to confirm,
so a caller who checks the state *after* entering cannot miss a notification published after
the check. If the connection drops, every inbox gets None on reconnection (re-check the state).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import structlog
from redis import exceptions as rex
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

log = structlog.get_logger("rq_stream.notify")

_REDIS_ERRORS = (rex.RedisError, OSError)


class Inbox:
    """Messages published on one channel since the inbox was opened (None: re-check now)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def put(self, message: bytes | None) -> None:
        self._queue.put_nowait(message)

    async def next(self, timeout_s: float) -> bytes | None:
        """The next message, or None after ``timeout_s`` (or when the connection was re-made)."""
        with anyio.move_on_after(max(0.0, timeout_s)):
            return await self._queue.get()
        return None


class Channels:
    """One shared pub/sub connection per application for waits that would otherwise poll.

    ``async with channels.listen(name) as inbox:`` subscribes (and waits for the server to
    confirm), so a caller who checks the state *after* entering cannot miss a notification
    published after the check. If the connection drops, every inbox gets None on reconnection
    (re-check the state); waits are always bounded by the caller anyway.
    """

    def __init__(self, client: Redis) -> None:
        self._r = client
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._inboxes: dict[str, set[Inbox]] = {}
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def listen(self, channel: str, confirm_timeout_s: float = 5.0) -> AsyncIterator[Inbox]:
        inbox = Inbox()
        self._inboxes.setdefault(channel, set()).add(inbox)
        try:
            confirmed = await self._subscribe(channel)
            with anyio.move_on_after(confirm_timeout_s):
                await asyncio.shield(confirmed)
            yield inbox
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._leave(channel, inbox)

    async def _subscribe(self, channel: str) -> asyncio.Future[None]:
        async with self._lock:
            if self._pubsub is None:
                self._pubsub = self._r.pubsub()
            confirmed = self._confirm.get(channel)
            if confirmed is None:
                confirmed = asyncio.get_running_loop().create_future()
                self._confirm[channel] = confirmed
                await self._pubsub.subscribe(channel)
            if self._listener is None or self._listener.done():
                self._listener = asyncio.create_task(self._listen(), name="rq_stream-channels")
            return confirmed

    async def _leave(self, channel: str, inbox: Inbox) -> None:
        async with self._lock:
            inboxes = self._inboxes.get(channel)
            if inboxes is not None:
                inboxes.discard(inbox)
                if inboxes:
                    return
                del self._inboxes[channel]
            self._confirm.pop(channel, None)
            if self._pubsub is not None:
                with contextlib.suppress(*_REDIS_ERRORS):
                    await self._pubsub.unsubscribe(channel)

    async def _listen(self) -> None:
        assert self._pubsub is not None
        failures = 0
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=5.0)
            except _REDIS_ERRORS as exc:
                failures += 1
                log.warning("notification listener lost its connection", error=str(exc))
                await asyncio.sleep(min(5.0, 0.1 * 2**failures) * (0.5 + random.random() / 2))
                continue
            if failures:
                failures = 0
                self._wake_all()
            if msg is not None:
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        channel = msg["channel"].decode()
        if msg["type"] == "subscribe":
            confirmed = self._confirm.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        elif msg["type"] == "message":
            for inbox in self._inboxes.get(channel, ()):
                inbox.put(msg["data"])

    def _wake_all(self) -> None:
        for channel, inboxes in self._inboxes.items():
            confirmed = self._confirm.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            for inbox in inboxes:
                inbox.put(None)

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
