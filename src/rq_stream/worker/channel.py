"""Light in-process hand-offs for the hot path (a job costs no stream machinery here).

``Channel``: fetchers put deliveries, idle executors get them in FIFO order; an item handed to a
reader that is cancelled before it resumes goes back to the front, so nothing is dropped. How
many deliveries may be held at once is bounded by the worker's slot accounting, not here.
``Outbox``: executors drop finished jobs in, the completer takes everything there is at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Channel(Generic[T]):
    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._readers: deque[asyncio.Future[T | None]] = deque()
        self._closed = False

    def put(self, item: T) -> None:
        while self._readers:
            reader = self._readers.popleft()
            if not reader.done():
                reader.set_result(item)
                return
        self._items.append(item)

    async def get(self) -> T | None:
        """The next item; None once the channel is closed and empty."""
        if self._items:
            return self._items.popleft()
        if self._closed:
            return None
        reader: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._readers.append(reader)
        try:
            return await reader
        except asyncio.CancelledError:
            if reader.done() and not reader.cancelled():
                item = reader.result()
                if item is not None:
                    self._items.appendleft(item)
            raise

    @property
    def pending(self) -> int:
        """Items put and not yet taken by a reader."""
        return len(self._items)

    def close(self) -> None:
        self._closed = True
        while self._readers:
            reader = self._readers.popleft()
            if not reader.done():
                reader.set_result(None)

    def drain(self) -> list[T]:
        items = list(self._items)
        self._items.clear()
        return items


class Outbox(Generic[T]):
    def __init__(self) -> None:
        self._items: list[T] = []
        self._ready = asyncio.Event()
        self._closed = False

    def put(self, item: T) -> None:
        self._items.append(item)
        self._ready.set()

    async def take(self, limit: int) -> list[T]:
        """Everything waiting (up to ``limit``); [] once closed and empty."""
        while not self._items:
            if self._closed:
                return []
            self._ready.clear()
            await self._ready.wait()
        batch, self._items = self._items[:limit], self._items[limit:]
        return batch

    def take_all(self) -> list[T]:
        batch, self._items = self._items, []
        return batch

    def close(self) -> None:
        self._closed = True
        self._ready.set()
