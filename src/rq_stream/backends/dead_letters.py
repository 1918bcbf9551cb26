"""The dead-letter stream of a queue, and its index by job id (both backends share them).

Entries are written by the finishing scripts (lib/finish.lua ``bury``), which also set
``QueueKeys.dead_index`` (job id -> entry id); replay and delete drop the index entry naming
the entry they remove, and a lookup drops one naming an entry no longer in the stream (trimmed
or deleted by hand), so finding one job's dead letter never scans the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from rq_stream.keys import QueueKeys
from rq_stream.scripts import Scripts

Entry = tuple[bytes, dict[bytes, bytes]]
"""A dead letter as stored: its entry id and its fields."""


def _entry(reply: Any) -> Entry:
    eid, flat = reply[0], reply[1]
    if isinstance(flat, dict):
        return eid, flat
    return eid, {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


class DeadLetterStore:
    def __init__(self, client: Redis, scripts: Scripts, keys: QueueKeys) -> None:
        self._r = client
        self._scripts = scripts
        self._k = keys

    async def count(self) -> int:
        return int(await self._r.xlen(self._k.dead))

    async def page(
        self, start: str = "-", count: int = 100, *, newest_first: bool = False
    ) -> list[Entry]:
        """Up to ``count`` entries from ``start`` (an id, ``(id`` for after it), oldest first
        unless ``newest_first`` (then from the newest, ``start`` ignored)."""
        if newest_first:
            rows = await self._r.xrevrange(self._k.dead, count=count)
        else:
            rows = await self._r.xrange(self._k.dead, min=start, count=count)
        return [(eid, f) for eid, f in rows]

    async def entry(self, entry_id: str) -> Entry | None:
        rows = await self._r.xrange(self._k.dead, entry_id, entry_id)
        return (rows[0][0], rows[0][1]) if rows else None

    async def find(self, job_id: str) -> Entry | None:
        """The job's newest dead letter, through the index: one round trip, no scan."""
        reply = await self._scripts.run("dead_find", (self._k.dead, self._k.dead_index), [job_id])
        return _entry(reply) if reply else None

    async def delete(self, entry_ids: Sequence[str]) -> int:
        """Delete these entries (and the index entries naming them); how many existed."""
        if not entry_ids:
            return 0
        keys = (self._k.dead, self._k.dead_index)
        return int(await self._scripts.run("dead_delete", keys, list(entry_ids)))

    async def delete_all(self) -> None:
        await self._r.delete(self._k.dead, self._k.dead_index)
