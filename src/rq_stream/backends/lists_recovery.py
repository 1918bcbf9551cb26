"""Recovery for the lists backend: reaping dead consumers and returning lost jobs.

A consumer is dead when its heartbeat key has expired or its last beat is older than the
reaper's lease; :meth:`Reaper.reap` returns its processing list to the right end of the backlog
(taken next, oldest first) in one script per consumer. Jobs in this worker's own processing list
that it never received (a blocking move whose reply was lost) are returned too, once seen unknown
on consecutive passes for ``stray_after_s``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from redis.asyncio import Redis

from rq_stream import codec
from rq_stream.keys import QueueKeys
from rq_stream.scripts import Scripts

log = structlog.get_logger("rq_stream.lists")


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Reaper:
    """``out``: the envelopes the backend handed to the runtime and not yet finished (shared
    with it, read here)."""

    def __init__(
        self,
        client: Redis,
        scripts: Scripts,
        keys: QueueKeys,
        consumer: str,
        out: Counter[bytes],
        stray_after_s: float,
        job_id_of: Callable[[bytes], str | None] = codec.peek_job_id,
    ) -> None:
        self._r = client
        self._scripts = scripts
        self._k = keys
        self.consumer = consumer
        self._proc = keys.processing(consumer)
        self._out = out
        self._stray_after_s = stray_after_s
        self._job_id_of = job_id_of
        self._suspects: dict[bytes, float] = {}
        """Envelopes in our processing list that we do not know of, and since when."""

    async def reap(self, lease_ms: int) -> None:
        """Return dead consumers' jobs (and our own never-received ones) to the backlog."""
        await self._return_strays()
        for name in await self._dead_consumers(lease_ms):
            await self._reap(name, lease_ms)

    async def _dead_consumers(self, lease_ms: int) -> list[str]:
        """Consumers that look dead (a cheap pre-check; the reap script decides atomically)."""
        k = self._k
        names = sorted(_s(m) for m in await self._r.smembers(k.consumers))
        names = [n for n in names if n != self.consumer]
        if not names:
            return []
        # Two calls, not a pipeline: a cluster pipeline refuses TIME and MGET (one slot here).
        beats = await self._r.mget([k.heartbeat(n) for n in names])
        seconds, micros = await self._r.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        return [
            n
            for n, beat in zip(names, beats, strict=True)
            if beat is None or now_ms - int(beat) > lease_ms
        ]

    async def _reap(self, name: str, lease_ms: int) -> None:
        k = self._k
        keys = (k.consumers, k.heartbeat(name), k.processing(name), k.pending)
        moved = int(await self._scripts.run("list_reap", keys, [name, lease_ms]))
        if moved > 0:
            log.warning(
                "returned the jobs of a worker that stopped beating to the queue",
                queue=k.queue,
                dead_worker=name,
                count=moved,
                lease_ms=lease_ms,
            )

    async def _return_strays(self) -> None:
        """Return jobs in our processing list that this worker never received (lost replies)."""
        seen = Counter(await self._r.lrange(self._proc, 0, -1))
        known = self._out
        now = time.monotonic()
        before = self._suspects
        suspects = {raw: before.get(raw, now) for raw, n in seen.items() if n > known.get(raw, 0)}
        confirmed = sorted(r for r, t in suspects.items() if now - t >= self._stray_after_s)
        for raw in confirmed:
            del suspects[raw]
        self._suspects = suspects
        if not confirmed:
            return
        n = await self.give_back(confirmed)
        if n:
            log.warning(
                "returned jobs this worker took but never received (lost reply) to the queue",
                queue=self._k.queue,
                count=n,
            )

    async def give_back(self, raws: Sequence[bytes]) -> int:
        """Return these envelopes from our processing list to the backlog (``list_return``)."""
        k = self._k
        args: list[Any] = [self.consumer]
        for raw in raws:
            args += (raw, self._job_id_of(raw) or "")
        keys = (self._proc, k.pending, k.job_prefix)
        return int(await self._scripts.run("list_return", keys, args))

    async def reconcile(self, held: Sequence[bytes]) -> list[bytes]:
        """Return what our processing list holds beyond ``held`` (with repeats counted); the
        envelopes it found to return."""
        unknown = Counter(await self._r.lrange(self._proc, 0, -1))
        unknown.subtract(Counter(held))
        return list((+unknown).elements())
