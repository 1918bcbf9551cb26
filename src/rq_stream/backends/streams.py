"""Redis Streams backend: one stream and one consumer group per queue (the default)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from redis import exceptions as rex
from redis.asyncio import Redis

from rq_stream import codec
from rq_stream.backends.base import (
    Completed,
    Completion,
    Delivery,
    Failure,
    NewJob,
    QueueCounts,
    enqueue_arguments,
    enqueue_replies,
)
from rq_stream.connect.connection import is_out_of_memory
from rq_stream.keys import GROUP, AppKeys, QueueKeys
from rq_stream.scripts import Scripts

log = structlog.get_logger("rq_stream.streams")


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_autoclaim(reply: Any) -> tuple[str, list[tuple[bytes, dict[Any, Any]]], list[str]]:
    """(cursor, claimed entries, ids of deleted entries) from an XAUTOCLAIM reply.

    Redis 7.x replies ``[cursor, entries, deleted_ids]`` and drops deleted entries from the PEL.
    Redis 6.2 replies ``[cursor, entries]`` with a nil in place of each deleted entry (its id is
    not given, so it is reported as "?").
    """
    cursor, entries = _s(reply[0]), reply[1]
    deleted = [_s(d) for d in reply[2]] if len(reply) > 2 else []
    claimed = []
    for entry in entries:
        eid, fields = entry[0], entry[1]
        if eid is None or fields is None:
            deleted.append("?" if eid is None else _s(eid))
        else:
            claimed.append((eid, fields))
    return cursor, claimed, deleted


class StreamsBackend:
    kind = "streams"

    def __init__(
        self, client: Redis, blocking: Redis, scripts: Scripts, keys: QueueKeys, consumer: str
    ) -> None:
        self._r = client
        self._blocking = blocking
        self._scripts = scripts
        self._k = keys
        self.queue = keys.queue
        self.consumer = consumer

    async def prepare(self) -> None:
        k = self._k
        try:
            await self._r.xgroup_create(k.stream, GROUP, id="0", mkstream=True)
        except rex.ResponseError as exc:
            # At maxmemory XGROUP CREATE is refused even when the group exists (then all is
            # well); when it does not, the error goes up and the worker retries with backoff.
            if "BUSYGROUP" not in str(exc) and not (
                is_out_of_memory(exc) and await self._group_exists(k.stream)
            ):
                raise

    async def _group_exists(self, stream: str) -> bool:
        try:
            groups = await self._r.xinfo_groups(stream)
        except rex.ResponseError:  # no such key
            return False
        return any(_s(g["name"]) == GROUP for g in groups)

    async def enqueue(self, jobs: Sequence[NewJob]) -> list[bool | str]:
        k = self._k
        keys, args = enqueue_arguments(k.stream, k, jobs)
        return enqueue_replies(await self._scripts.run("enqueue", keys, args, durable=True))

    async def fetch(self, count: int, block_ms: int) -> list[Delivery]:
        k = self._k
        try:
            reply = await self._blocking.xreadgroup(
                GROUP, self.consumer, {k.stream: ">"}, count=count, block=block_ms
            )
        except rex.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("consumer group missing (stream deleted?); recreating it", queue=self.queue)
            await self.prepare()
            return []
        if not reply:
            return []
        return [self._delivery(eid, fields) for eid, fields in reply[0][1]]

    async def take(self, count: int, limits: Mapping[str, tuple[int, int]]) -> list[Delivery]:
        """Read up to ``count`` new entries without blocking and start them in the same script
        (``limits``: task name -> (max_attempts, result_ttl_s)). Empty when the queue is."""
        k = self._k
        args: list[Any] = [GROUP, self.consumer, k.done_channel(""), self.queue, count, 3, 3600]
        for name, (max_attempts, ttl) in limits.items():
            args += (name, max_attempts, ttl)
        try:
            flat = await self._scripts.run(
                "stream_take", (k.stream, k.dead, k.job_prefix, k.stats, k.dead_index), args
            )
        except rex.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.prepare()
            return []
        out = []
        for i in range(0, len(flat), 4):
            code = int(flat[i + 2])
            d = Delivery(
                queue=self.queue, token=_s(flat[i]), raw=flat[i + 1], job_id=_s(flat[i + 3])
            )
            if code != -2:  # started by the script: the attempt, or 0 / -1 (not to run)
                d.started, d.attempt = True, code
            out.append(d)
        return out

    def _delivery(self, eid: bytes | str, fields: dict[Any, Any] | None) -> Delivery:
        fields = fields or {}
        job_id = fields.get(b"j", b"")
        return Delivery(
            queue=self.queue, token=_s(eid), raw=fields.get(b"d", b""), job_id=_s(job_id)
        )

    async def reclaim(self, lease_ms: int, count: int) -> list[Delivery]:
        """XAUTOCLAIM over the whole PEL (following the cursor), for Redis 6.2 and 7.x replies."""
        k = self._k
        out: list[Delivery] = []
        cursor: bytes | str = "0-0"
        while len(out) < count:
            try:
                reply = await self._r.xautoclaim(
                    k.stream, GROUP, self.consumer, lease_ms, cursor, count=count - len(out)
                )
            except rex.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self.prepare()  # the stream was deleted under us: nothing to claim
                return out
            cursor, entries, deleted = parse_autoclaim(reply)
            out += (self._delivery(eid, fields) for eid, fields in entries)
            if deleted:
                log.error(
                    "pending entries were deleted from the stream before they were acked; "
                    "those jobs are lost (was the stream trimmed or XDELed by hand?)",
                    queue=self.queue,
                    entry_ids=deleted,
                )
            if cursor == "0-0":
                break
        return out

    async def start(self, deliveries: Sequence[Delivery], *, alone: bool = False) -> list[int]:
        k = self._k
        args: list[Any] = [GROUP, self.consumer, k.done_channel(""), self.queue, int(alone)]
        for d in deliveries:
            args += (d.token, d.job_id, d.max_attempts, d.result_ttl_s)
        reply = await self._scripts.run(
            "stream_start", (k.stream, k.dead, k.job_prefix, k.stats, k.dead_index), args
        )
        return [int(x) for x in reply]

    async def complete(self, completions: Sequence[Completion]) -> Completed:
        k = self._k
        args: list[Any] = [GROUP, k.done_channel("")]
        for c in completions:
            d = c.delivery
            args += (d.token, d.job_id, d.attempt, d.result_ttl_s, c.result)
        reply = await self._scripts.run("stream_complete", (k.stream, k.job_prefix, k.stats), args)
        return Completed(int(reply[0]), [completions[int(i)] for i in reply[1:]])

    async def retry(self, delivery: Delivery, delay_ms: int, failure: Failure) -> bool:
        k = self._k
        d = delivery
        args = [
            GROUP,
            d.token,
            d.job_id,
            d.attempt,
            delay_ms,
            d.raw,
            codec.dumps(failure.as_dict()),
        ]
        reply = await self._scripts.run(
            "stream_retry", (k.stream, k.delayed, k.job_prefix, k.stats), args
        )
        return bool(reply)

    async def dead_letter(self, delivery: Delivery, failure: Failure, worker: str) -> bool:
        k = self._k
        d = delivery
        args = [
            GROUP,
            k.done_channel(""),
            self.queue,
            d.token,
            d.job_id,
            d.attempt if d.attempt > 0 else "",
            d.raw,
            failure.exc_type,
            failure.message,
            failure.traceback,
            worker,
            d.result_ttl_s,
        ]
        reply = await self._scripts.run(
            "stream_dead_letter", (k.stream, k.dead, k.job_prefix, k.stats, k.dead_index), args
        )
        return bool(reply)

    async def defer(self, delivery: Delivery, delay_ms: int) -> bool:
        k = self._k
        d = delivery
        args = [GROUP, d.token, d.job_id, d.attempt, delay_ms, d.raw]
        reply = await self._scripts.run("stream_defer", (k.stream, k.delayed, k.job_prefix), args)
        return bool(reply)

    async def hand_back(self, deliveries: Sequence[Delivery]) -> int:
        if not deliveries:
            return 0
        k = self._k
        args: list[Any] = [GROUP]
        for d in deliveries:
            args += (d.token, d.job_id, d.attempt, d.raw)
        return int(await self._scripts.run("stream_hand_back", (k.stream, k.job_prefix), args))

    async def reconcile(self, held: Sequence[Delivery]) -> int:
        k = self._k
        args = [GROUP, self.consumer, *(d.token for d in held)]
        try:
            return int(await self._scripts.run("stream_reconcile", (k.stream, k.job_prefix), args))
        except rex.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return 0

    async def renew(self, deliveries: Sequence[Delivery]) -> set[str]:
        if not deliveries:
            return set()
        k = self._k
        args = [GROUP, self.consumer, *(d.token for d in deliveries)]
        try:
            lost = await self._scripts.run("stream_renew", (k.stream,), args)
        except rex.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return {d.token for d in deliveries}  # the stream was deleted: nothing is ours
        return {_s(x) for x in lost}

    async def move_due(self, limit: int) -> int:
        k = self._k
        _moved, wait_ms = await self._scripts.run(
            "stream_move_due", (k.delayed, k.stream, k.job_prefix), [limit]
        )
        return int(wait_ms)

    async def replay(self, dead_ids: Sequence[str]) -> int:
        if not dead_ids:
            return 0
        k = self._k
        return int(
            await self._scripts.run(
                "stream_replay", (k.dead, k.stream, k.job_prefix, k.dead_index), dead_ids
            )
        )

    async def counts(self) -> QueueCounts:
        k = self._k
        async with self._r.pipeline(transaction=False) as p:
            p.xlen(k.stream)
            p.xpending(k.stream, GROUP)
            p.zcard(k.delayed)
            p.xlen(k.dead)
            try:
                length, pending, delayed, dead = await p.execute()
            except rex.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                return QueueCounts()
        in_flight = int(pending["pending"]) if pending else 0
        # XDEL after XACK keeps the stream as long as backlog + in flight.
        return QueueCounts(
            backlog=max(0, int(length) - in_flight),
            in_flight=in_flight,
            delayed=int(delayed),
            dead=int(dead),
        )

    async def heartbeat(self, ttl_ms: int) -> None:
        return None

    async def prune(self, idle_ms: int) -> int:
        """Delete group consumers whose worker is gone (crashed workers never leave), so the
        group does not grow with every restart. Only consumers idle for ``idle_ms``, without a
        live heartbeat, and (checked atomically with the delete) with nothing pending."""
        k = self._k
        try:
            consumers = await self._r.xinfo_consumers(k.stream, GROUP)
        except rex.ResponseError:
            return 0
        pruned = 0
        for c in consumers:
            name = _s(c["name"])
            if name == self.consumer or int(c["pending"]) or int(c["idle"]) < idle_ms:
                continue
            if await self._r.exists(AppKeys(k.prefix).worker(name)):
                continue
            pruned += int(
                await self._scripts.run("stream_prune_consumer", (k.stream,), [GROUP, name])
            )
        if pruned:
            log.info("forgot consumers of workers that are gone", queue=self.queue, count=pruned)
        return pruned

    async def leave(self) -> None:
        """Delete this consumer from the group, but only when it holds no pending entries."""
        k = self._k
        try:
            pending = await self._r.xpending_range(
                k.stream, GROUP, "-", "+", 1, consumername=self.consumer
            )
            if not pending:
                await self._r.xgroup_delconsumer(k.stream, GROUP, self.consumer)
        except rex.ResponseError:
            return
