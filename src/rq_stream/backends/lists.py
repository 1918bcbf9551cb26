"""Redis lists backend: a list per queue, a processing list per worker, heartbeats and a reaper.

- The backlog is a list (``QueueKeys.pending``): jobs are LPUSHed and taken from the right end
  with ``BLMOVE pending proc RIGHT LEFT`` (``BRPOPLPUSH`` on servers without BLMOVE, < 6.2)
  into the taking worker's own processing list (``QueueKeys.processing(consumer)``). After one
  blocking move, more jobs are taken without blocking (LMOVE in ``list_take.lua``).
- A list element is the job's envelope, byte for byte (it holds the unique job id):
  ``LREM proc -1 envelope`` removes exactly that job (scanning from the tail, where the oldest
  jobs are, so the scan is short). ``Delivery.token`` is ``job_id#n``, unique
  within this process even when the same job is taken twice.
- Every state change (start, complete, retry, dead letter, defer, hand back) is one script,
  gated on the job's attempt counter (fencing) and on LREM from this worker's processing list
  returning 1, so a stalled worker whose jobs were given to another changes nothing.
- Liveness: each consumer beats (``QueueKeys.heartbeat``, with a TTL) and is a member of
  ``QueueKeys.consumers``; ``reclaim`` returns dead consumers' processing lists (and this
  worker's never-received jobs) to the backlog and returns no deliveries itself
  (``lists_recovery.Reaper``). ``start`` counts the attempt as usual, so a job that keeps
  killing its worker reaches ``max_attempts`` and the dead-letter stream.

The job record, the delayed set, the dead-letter stream, the done channel and the stats are
the same as the streams backend's, so results, ``DeadLetters`` and ``info`` work unchanged.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import structlog
from redis import exceptions as rex
from redis.asyncio import Redis

from rq_stream import codec
from rq_stream.backends.base import (
    EXPIRED,
    Completed,
    Completion,
    Delivery,
    Failure,
    NewJob,
    QueueCounts,
    enqueue_arguments,
    enqueue_replies,
)
from rq_stream.backends.lists_recovery import Reaper
from rq_stream.backends.server_info import server_has_command
from rq_stream.connect.connection import is_out_of_memory
from rq_stream.keys import QueueKeys
from rq_stream.scripts import Scripts

log = structlog.get_logger("rq_stream.lists")

DEFAULT_TTL_MS = 15_000
"""Heartbeat TTL until the runtime's first ``heartbeat`` call (3 x its default 5 s)."""
DEFAULT_LEASE_MS = 30_000
"""Lease assumed until the runtime's first ``reclaim`` call tells the real one."""
OOM_POLL_MS = 200
"""At maxmemory (no BLMOVE), how long a fetch waits before looking at an empty backlog again."""


_GONE = (0, -1, EXPIRED)
"""Start answers after which the job is out of this worker's processing list."""


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ListsBackend:
    """``blmove``: None detects it once from the server; False forces ``BRPOPLPUSH``.
    ``stray_after_s``: how long a job in our processing list may stay unknown to us before it
    is taken for a lost reply and returned to the backlog. ``job_id_of``: the job id in an
    envelope (the app's serializer reads it; msgpack by default)."""

    kind = "lists"

    def __init__(
        self,
        client: Redis,
        blocking: Redis,
        scripts: Scripts,
        keys: QueueKeys,
        consumer: str,
        *,
        blmove: bool | None = None,
        stray_after_s: float = 5.0,
        job_id_of: Callable[[bytes], str | None] = codec.peek_job_id,
    ) -> None:
        self._r = client
        self._blocking = blocking
        self._scripts = scripts
        self._k = keys
        self.queue = keys.queue
        self.consumer = consumer
        self._proc = keys.processing(consumer)
        """This worker's processing list."""
        self._blmove = blmove
        self._ttl_ms = DEFAULT_TTL_MS
        self._lease_ms = DEFAULT_LEASE_MS
        self._beat_at: float | None = None
        self._out: Counter[bytes] = Counter()
        """Envelopes handed to the runtime and not yet finished."""
        self._job_id_of = job_id_of
        """The job id in an envelope (the app's serializer reads it)."""
        self._reaper = Reaper(client, scripts, keys, consumer, self._out, stray_after_s, job_id_of)
        self._seq = itertools.count(1)

    def _silence_ms(self) -> int:
        """How long this consumer may stay silent before reapers take it for dead."""
        return min(self._ttl_ms, self._lease_ms)

    def _beat_due(self) -> bool:
        last = self._beat_at
        return last is None or time.monotonic() - last > self._silence_ms() / 4000

    def _track(self, raws: Sequence[bytes]) -> None:
        out = self._out
        for raw in raws:
            out[raw] += 1

    def _forget(self, raws: Sequence[bytes]) -> None:
        out = self._out
        for raw in raws:
            out[raw] -= 1
            if out[raw] <= 0:
                del out[raw]

    async def uses_blmove(self) -> bool:
        """Whether fetches use BLMOVE (detected once) or fall back to BRPOPLPUSH."""
        if self._blmove is None:
            self._blmove = await server_has_command(self._r, "blmove")
            if not self._blmove:
                log.info("the server has no BLMOVE (Redis < 6.2): fetching with BRPOPLPUSH")
        return self._blmove

    # ------------------------------------------------------------------ producing
    async def prepare(self) -> None:
        """Nothing to create: lists, sets and hashes appear on first write."""
        return None

    async def enqueue(self, jobs: Sequence[NewJob]) -> list[bool | str]:
        k = self._k
        keys, args = enqueue_arguments(k.pending, k, jobs)
        return enqueue_replies(await self._scripts.run("list_enqueue", keys, args, durable=True))

    # ------------------------------------------------------------------ taking
    async def fetch(self, count: int, block_ms: int) -> list[Delivery]:
        k = self._k
        blmove = await self.uses_blmove()
        if self._beat_due():
            await self._beat()
        try:
            first = await self._move_blocking(block_ms, blmove)
        except rex.ResponseError as exc:
            if not is_out_of_memory(exc):
                raise
            return await self._take_at_maxmemory(count, blmove, block_ms)
        if first is None:
            return []
        raws: list[bytes] = [first]
        if count > 1 or self._beat_due():
            more = max(0, count - 1)
            hb = k.heartbeat(self.consumer)
            args = [more, int(blmove), self.consumer, self._ttl_ms]
            keys = (k.pending, self._proc, k.consumers, hb)
            raws += await self._scripts.run("list_take", keys, args)
            self._beat_at = time.monotonic()
        self._track(raws)
        return [self._delivery(raw) for raw in raws]

    async def _move_blocking(self, block_ms: int, blmove: bool) -> bytes | None:
        """One job from the backlog's right end into our processing list, waiting if needed.

        We beat at least every quarter of the allowed silence and wait at most half of it, so
        a worker frozen (SIGSTOP) while its move is blocked server-side cannot receive a job
        after reapers took it for dead and returned its jobs."""
        src, dst = self._k.pending, self._proc
        wait_ms = max(10, min(block_ms, self._silence_ms() // 2))
        if blmove:
            reply = await self._blocking.execute_command(
                "BLMOVE", src, dst, "RIGHT", "LEFT", wait_ms / 1000
            )
        else:  # whole seconds: servers before 6.0 take no fractional timeouts
            seconds = max(1, math.ceil(wait_ms / 1000))
            reply = await self._blocking.execute_command("BRPOPLPUSH", src, dst, seconds)
        return reply if isinstance(reply, bytes) else None

    async def _take_at_maxmemory(self, count: int, blmove: bool, block_ms: int) -> list[Delivery]:
        """Redis refuses BLMOVE at maxmemory (it could grow a list); ``list_take`` runs there
        (allow-oom) but does not block, so an empty backlog is polled with a short sleep."""
        got = await self._take_now(count, blmove)
        if not got:
            await anyio.sleep(min(block_ms, OOM_POLL_MS) / 1000)
        return got

    async def _take_now(self, count: int, blmove: bool) -> list[Delivery]:
        """Up to ``count`` jobs into our processing list without blocking (``list_take``, which
        also beats)."""
        k = self._k
        keys = (k.pending, self._proc, k.consumers, k.heartbeat(self.consumer))
        args = [count, int(blmove), self.consumer, self._ttl_ms]
        raws: list[bytes] = await self._scripts.run("list_take", keys, args)
        self._beat_at = time.monotonic()
        self._track(raws)
        return [self._delivery(raw) for raw in raws]

    def _delivery(self, raw: bytes) -> Delivery:
        job_id = self._job_id_of(raw) or "?"
        return Delivery(queue=self.queue, token=f"{job_id}#{next(self._seq)}", raw=raw)

    async def _beat(self) -> None:
        k = self._k
        args = [self.consumer, self._ttl_ms]
        await self._scripts.run("list_heartbeat", (k.consumers, k.heartbeat(self.consumer)), args)
        self._beat_at = time.monotonic()

    async def start(self, deliveries: Sequence[Delivery], *, alone: bool = False) -> list[int]:
        k = self._k
        args: list[Any] = [self.consumer, k.done_channel(""), self.queue, int(alone)]
        for d in deliveries:
            args += (d.job_id, d.max_attempts, d.result_ttl_s, d.raw)
        keys = (self._proc, k.dead, k.job_prefix, k.stats, k.dead_index)
        reply = [int(x) for x in await self._scripts.run("list_start", keys, args)]
        self._forget([d.raw for d, a in zip(deliveries, reply, strict=True) if a in _GONE])
        return reply

    # ------------------------------------------------------------------ finishing
    async def complete(self, completions: Sequence[Completion]) -> Completed:
        k = self._k
        args: list[Any] = [k.done_channel("")]
        for c in completions:
            d = c.delivery
            args += (d.job_id, d.attempt, d.result_ttl_s, c.result, d.raw)
        keys = (self._proc, k.job_prefix, k.stats)
        reply = await self._scripts.run("list_complete", keys, args)
        if len(reply) == 1:
            self._forget([c.delivery.raw for c in completions])
            return Completed(int(reply[0]), [])
        # The refused jobs stay in our processing list (and tracked) until dead-lettered.
        refused = {int(i) for i in reply[1:]}
        invalid = [completions[i] for i in sorted(refused)]
        kept = [c.delivery.raw for i, c in enumerate(completions) if i not in refused]
        self._forget(kept)
        return Completed(int(reply[0]), invalid)

    async def retry(self, delivery: Delivery, delay_ms: int, failure: Failure) -> bool:
        d = delivery
        k = self._k
        error = codec.dumps(failure.as_dict())
        args = [d.job_id, d.attempt, delay_ms, d.raw, error]
        keys = (self._proc, k.pending, k.delayed, k.job_prefix, k.stats)
        reply = await self._scripts.run("list_retry", keys, args)
        self._forget([d.raw])
        return bool(reply)

    async def dead_letter(self, delivery: Delivery, failure: Failure, worker: str) -> bool:
        d = delivery
        k = self._k
        args = [
            k.done_channel(""),
            self.queue,
            d.job_id,
            d.attempt if d.attempt > 0 else "",
            d.raw,
            failure.exc_type,
            failure.message,
            failure.traceback,
            worker,
            d.result_ttl_s,
        ]
        keys = (self._proc, k.dead, k.job_prefix, k.stats, k.dead_index)
        reply = await self._scripts.run("list_dead_letter", keys, args)
        self._forget([d.raw])
        return bool(reply)

    async def defer(self, delivery: Delivery, delay_ms: int) -> bool:
        d = delivery
        k = self._k
        args = [d.job_id, d.attempt, delay_ms, d.raw]
        keys = (self._proc, k.delayed, k.job_prefix)
        reply = await self._scripts.run("list_defer", keys, args)
        self._forget([d.raw])
        return bool(reply)

    async def hand_back(self, deliveries: Sequence[Delivery]) -> int:
        if not deliveries:
            return 0
        k = self._k
        args: list[Any] = []
        for d in deliveries:
            args += (d.job_id, d.attempt, d.raw)
        keys = (self._proc, k.pending, k.job_prefix)
        n = int(await self._scripts.run("list_hand_back", keys, args))
        self._forget([d.raw for d in deliveries])
        return n

    # ------------------------------------------------------------------ ownership
    async def renew(self, deliveries: Sequence[Delivery]) -> set[str]:
        """Beat, and report the jobs no longer in our processing list (or started again)."""
        k = self._k
        args: list[Any] = [self.consumer, self._ttl_ms]
        for d in deliveries:
            args += (d.token, d.job_id, d.attempt, hashlib.sha1(d.raw).hexdigest())
        keys = (self._proc, k.job_prefix, k.consumers, k.heartbeat(self.consumer))
        lost = await self._scripts.run("list_renew", keys, args)
        self._beat_at = time.monotonic()
        return {_s(x) for x in lost}

    async def heartbeat(self, ttl_ms: int) -> None:
        self._ttl_ms = ttl_ms
        await self._beat()

    async def reclaim(self, lease_ms: int, count: int) -> list[Delivery]:
        """Reap: return dead consumers' jobs (and our own never-received ones) to the backlog.

        Returns no deliveries: the jobs go to the right end of the backlog, where the next
        fetch of any worker takes them. Safe to run from every worker at once."""
        self._lease_ms = lease_ms
        await self._reaper.reap(lease_ms)
        return []

    async def reconcile(self, held: Sequence[Delivery]) -> int:
        """Return what our processing list holds beyond ``held`` (with repeats counted)."""
        raws = await self._reaper.reconcile([d.raw for d in held])
        if not raws:
            return 0
        n = await self._reaper.give_back(raws)
        self._forget([r for r in raws if self._out.get(r)])
        return n

    async def leave(self) -> None:
        """Drop our heartbeat; leave the consumer set if our processing list is empty (else the
        next reaper returns what is left, then drops us)."""
        k = self._k
        keys = (self._proc, k.heartbeat(self.consumer), k.consumers)
        left = int(await self._scripts.run("list_leave", keys, [self.consumer]))
        if left:
            log.warning(
                "jobs left in this worker's processing list; the next reaper returns them",
                queue=self.queue,
                count=left,
            )

    async def take(self, count: int, limits: Mapping[str, tuple[int, int]]) -> list[Delivery]:
        """The busy path: one non-blocking script moves a batch (the worker then starts it), so
        a busy queue costs no blocking move per batch. Not started here (``limits`` unused)."""
        return await self._take_now(count, await self.uses_blmove())

    async def prune(self, idle_ms: int) -> int:
        """Nothing to do: the reaper drops a dead worker from the consumer set."""
        return 0

    # ------------------------------------------------------------------ upkeep
    async def move_due(self, limit: int) -> int:
        k = self._k
        keys = (k.delayed, k.pending, k.job_prefix)
        _moved, wait_ms = await self._scripts.run("list_move_due", keys, [limit])
        return int(wait_ms)

    async def replay(self, dead_ids: Sequence[str]) -> int:
        if not dead_ids:
            return 0
        k = self._k
        keys = (k.dead, k.pending, k.job_prefix, k.dead_index)
        return int(await self._scripts.run("list_replay", keys, dead_ids))

    async def counts(self) -> QueueCounts:
        """In flight: the processing lists of the consumers in the set (live or not yet reaped)."""
        k = self._k
        names = sorted(_s(m) for m in await self._r.smembers(k.consumers))
        keys = [k.pending, k.delayed, k.dead, *(k.processing(name) for name in names)]
        backlog, delayed, dead, in_flight = await self._scripts.run("list_counts", keys, [])
        return QueueCounts(
            backlog=int(backlog),
            in_flight=int(in_flight),
            delayed=int(delayed),
            dead=int(dead),
            extra={"consumers": len(names)},
        )
