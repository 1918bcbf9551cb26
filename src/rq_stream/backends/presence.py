"""Worker presence: each live worker's heartbeat row (read by ``rq-stream info``) and the sorted
set of workers by last beat. These keys span queues (``AppKeys.worker``, ``AppKeys.workers``)."""

from __future__ import annotations

from redis.asyncio import Redis

from rq_stream.keys import AppKeys
from rq_stream.scripts import Scripts

FORGET_AFTER_MS = 24 * 3600 * 1000
"""Workers not seen for this long leave the sorted set."""


class Presence:
    def __init__(self, client: Redis, scripts: Scripts, keys: AppKeys) -> None:
        self._r = client
        self._scripts = scripts
        self._keys = keys

    async def beat(self, name: str, info: bytes, ttl_ms: int, now_ms: int) -> None:
        """Write the worker's row with a TTL and note when it was seen (two allow-oom scripts,
        so a worker draining a full Redis keeps beating; not resent: the caller rides outages
        out and logs them)."""
        run = self._scripts.run
        await run("worker_heartbeat", (self._keys.worker(name),), (info, ttl_ms), retries=0)
        seen = (name, now_ms, now_ms - FORGET_AFTER_MS)
        await run("worker_seen", (self._keys.workers,), seen, retries=0)

    async def leave(self, name: str) -> None:
        await self._r.delete(self._keys.worker(name))
        await self._r.zrem(self._keys.workers, name)

    async def seen_since(self, ms: int) -> int:
        """How many workers beat at or after ``ms`` (epoch ms)."""
        return int(await self._r.zcount(self._keys.workers, ms, "+inf"))

    async def rows(self) -> list[tuple[str, float, bytes]]:
        """(name, last beat in ms, heartbeat row) of each worker whose row has not expired."""
        entries = await self._r.zrange(self._keys.workers, 0, -1, withscores=True)
        if not entries:
            return []
        async with self._r.pipeline(transaction=False) as p:
            for name, _score in entries:
                p.get(self._keys.worker(name.decode()))
            raws = await p.execute()
        return [
            (name.decode(), float(score), raw)
            for (name, score), raw in zip(entries, raws, strict=True)
            if raw is not None
        ]
