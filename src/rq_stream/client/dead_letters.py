"""Dead letters: inspect, replay and purge the jobs that failed for good.

dlq = app.dead_letters("default")
for letter in await dlq.list(limit=20):
    print(letter.job_id, letter.exc_type, letter.message)
await dlq.replay(letter.id)              # one
await dlq.replay_where(lambda l: l.exc_type == "ConnectionError")   # by filter
await dlq.replay_all()
await dlq.purge()                        # all, or purge(ids)
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rq_stream import codec
from rq_stream.backends.dead_letters import DeadLetterStore
from rq_stream.codec import Envelope
from rq_stream.errors import EnvelopeError

if TYPE_CHECKING:
    from rq_stream.context import Context

_PAGE = 500


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    """The dead-letter entry id (use it to replay or purge this one)."""
    queue: str
    job_id: str
    task: str | None
    exc_type: str
    message: str
    traceback: str
    attempts: int
    first_at: datetime
    last_at: datetime
    worker: str
    payload: bytes
    """The original envelope, byte for byte (may be undecodable: that can be why it is here)."""
    decode: Callable[[bytes], Envelope] = field(
        default=codec.decode_envelope, repr=False, compare=False
    )
    """How the envelope decodes (the app's serializer; arguments as plain data)."""

    @property
    def args(self) -> list[Any] | None:
        try:
            return list(self.decode(self.payload).args)
        except EnvelopeError:
            return None

    @property
    def kwargs(self) -> dict[str, Any] | None:
        try:
            return dict(self.decode(self.payload).kwargs)
        except EnvelopeError:
            return None


def _dt(ms: bytes | None) -> datetime:
    return datetime.fromtimestamp(int(ms or 0) / 1000, tz=timezone.utc)


def _letter(
    queue: str,
    entry_id: bytes,
    f: dict[bytes, bytes],
    decode: Callable[[bytes], Envelope] = codec.decode_envelope,
) -> DeadLetter:
    payload = f.get(b"d", b"")
    try:
        task: str | None = decode(payload).task
    except EnvelopeError:
        task = None
    return DeadLetter(
        id=entry_id.decode(),
        queue=queue,
        job_id=f.get(b"job", b"").decode(),
        task=task,
        exc_type=f.get(b"etype", b"").decode(),
        message=f.get(b"emsg", b"").decode(errors="replace"),
        traceback=f.get(b"tb", b"").decode(errors="replace"),
        attempts=int(f.get(b"attempts", 0)),
        first_at=_dt(f.get(b"first_ms")),
        last_at=_dt(f.get(b"last_ms")),
        worker=f.get(b"worker", b"").decode(),
        payload=payload,
        decode=decode,
    )


class DeadLetters:
    """The dead-letter stream of one queue."""

    def __init__(self, ctx: Context, queue: str) -> None:
        self._ctx = ctx
        self.queue = queue
        self.key = ctx.keys.queue(queue).dead
        self._store_: DeadLetterStore | None = None
        self._decode = ctx.payloads.decode_envelope

    @property
    def _store(self) -> DeadLetterStore:
        if self._store_ is None:  # on first use: the app's clients are made lazily too
            self._store_ = DeadLetterStore(
                self._ctx.redis, self._ctx.scripts, self._ctx.keys.queue(self.queue)
            )
        return self._store_

    async def count(self) -> int:
        return await self._store.count()

    async def list(self, limit: int = 100, newest_first: bool = False) -> builtins.list[DeadLetter]:
        rows = await self._store.page(count=limit, newest_first=newest_first)
        return [_letter(self.queue, eid, f, self._decode) for eid, f in rows]

    async def all(self) -> builtins.list[DeadLetter]:
        out: builtins.list[DeadLetter] = []
        start = "-"
        while True:
            rows = await self._store.page(start, _PAGE)
            out += [_letter(self.queue, eid, f, self._decode) for eid, f in rows]
            if len(rows) < _PAGE:
                return out
            start = "(" + rows[-1][0].decode()

    async def get(self, entry_or_job_id: str) -> DeadLetter | None:
        """One dead letter, by its entry id or by its job id (the job's newest, found through
        the dead-letter index: no scan)."""
        if "-" in entry_or_job_id and entry_or_job_id.replace("-", "").isdigit():
            row = await self._store.entry(entry_or_job_id)
        else:
            row = await self._store.find(entry_or_job_id)
        return _letter(self.queue, row[0], row[1], self._decode) if row else None

    async def replay(self, *ids: str) -> int:
        """Put dead letters (by entry id) back on the queue; each keeps its job id."""
        backend = self._ctx.backend(self.queue)
        return await backend.replay(ids)

    async def replay_where(self, predicate: Callable[[DeadLetter], bool]) -> int:
        chosen = [letter.id for letter in await self.all() if predicate(letter)]
        return await self._replay_chunks(chosen)

    async def replay_all(self) -> int:
        return await self._replay_chunks([letter.id for letter in await self.all()])

    async def _replay_chunks(self, ids: Sequence[str]) -> int:
        n = 0
        for i in range(0, len(ids), _PAGE):
            n += await self.replay(*ids[i : i + _PAGE])
        return n

    async def purge(self, ids: Sequence[str] | None = None) -> int:
        """Delete dead letters for good: the given entry ids, or all of them."""
        if ids is None:
            n = await self.count()
            await self._store.delete_all()
            return n
        return await self._store.delete(ids)
