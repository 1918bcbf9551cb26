"""Job records: the per-job hash (``QueueKeys.job``) written by the scripts, read by handles."""

from __future__ import annotations

from redis.asyncio import Redis

from rq_stream.keys import QueueKeys


class JobRecords:
    def __init__(self, client: Redis, keys: QueueKeys) -> None:
        self._r = client
        self._k = keys

    async def record(self, job_id: str) -> dict[bytes, bytes]:
        """The job's whole record; {} when there is none (never enqueued, or expired)."""
        h: dict[bytes, bytes] = await self._r.hgetall(self._k.job(job_id))
        return h

    async def status(self, job_id: str) -> bytes | None:
        """The job's status field alone (None: no record)."""
        raw: bytes | None = await self._r.hget(self._k.job(job_id), "s")
        return raw
