"""The schedules of one queue in Redis: their definitions and last ticks (two hashes in the
queue's slot), and the script that enqueues a tick's job atomically with advancing the tick."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from rq_stream.backends.base import NewJob, enqueue_arguments
from rq_stream.keys import QueueKeys
from rq_stream.scripts import Scripts

DONE, BEHIND, CHANGED = 1, 0, -1
"""``fire``'s replies: enqueued (or advanced); the tick was not after the last one (another
worker took it); the definition changed or was removed since it was read."""


class ScheduleStore:
    """Schedules whose jobs go to one queue (``kind``: that queue's backend)."""

    def __init__(self, redis: Redis, scripts: Scripts, keys: QueueKeys, kind: str = "streams"):
        self._r = redis
        self._scripts = scripts
        self._k = keys
        self._kind = kind

    async def put(self, name: str, definition: bytes, start_ms: int) -> bool:
        """Store a schedule (replacing its definition); a new one ticks from ``start_ms`` on,
        an existing one keeps its last tick. True if it was new or changed."""
        k = self._k
        async with self._r.pipeline(transaction=True) as p:
            p.hget(k.schedules, name)
            p.hset(k.schedules, name, definition)
            p.hsetnx(k.schedule_ticks, name, start_ms)
            before, _, _ = await p.execute()
        return bool(before != definition)

    async def remove(self, name: str) -> bool:
        k = self._k
        async with self._r.pipeline(transaction=True) as p:
            p.hdel(k.schedules, name)
            p.hdel(k.schedule_ticks, name)
            removed, _ = await p.execute()
        return bool(removed)

    async def load(self) -> dict[str, tuple[bytes, int]]:
        """Every schedule of the queue: name -> (definition, last tick in ms; 0 if none)."""
        k = self._k
        async with self._r.pipeline(transaction=False) as p:
            p.hgetall(k.schedules)
            p.hgetall(k.schedule_ticks)
            defs, ticks = await p.execute()
        return {_text(n): (d, int(ticks.get(n, 0))) for n, d in defs.items()}

    async def fire(self, name: str, definition: bytes, tick_ms: int, job: NewJob | None) -> int:
        """Advance the schedule to ``tick_ms`` and enqueue ``job`` (None: only advance), in
        one script, unless another worker got there first (see ``DONE``...)."""
        k = self._k
        backlog = k.pending if self._kind == "lists" else k.stream
        keys, job_args = enqueue_arguments(backlog, k, [job] if job is not None else [])
        keys += [k.schedules, k.schedule_ticks]
        args: Sequence[Any] = [job_args[0], name, definition, tick_ms, *job_args[1:]]
        script = "list_cron_tick" if self._kind == "lists" else "cron_tick"
        return int(await self._scripts.run(script, keys, args))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


__all__ = ["BEHIND", "CHANGED", "DONE", "ScheduleStore"]
