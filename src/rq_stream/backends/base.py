"""The one seam between the runtime and Redis data structures.

The worker sees :class:`Delivery` objects (a job's payload, its attempt, an opaque token) and
tells the backend what became of each: completed, retried, dead-lettered or handed back. It never
sees stream ids or list names. Streams and lists are two implementations of :class:`Backend`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from rq_stream.codec import Envelope
from rq_stream.keys import QueueKeys

ALONE = -3
"""A start's answer for a job not started because it must run alone: its last allowed attempt,
after its previous one ended with its worker dying (lib/start.lua, list_start.lua)."""
EXPIRED = -4
"""A start's answer for a job not started because its deadline (``expires_s``/``expires_at``)
had passed: it now ends ``expired`` (lib/expire.lua)."""


@dataclass(slots=True)
class Delivery:
    """One job handed to this worker. ``token`` identifies the delivery for its backend."""

    queue: str
    token: str
    raw: bytes
    envelope: Envelope | None = None
    attempt: int = 0
    job_id: str = ""
    max_attempts: int = 1
    result_ttl_s: int = 3600
    started: bool = False
    """The backend counted the attempt already (``attempt``: >0 run it, 0 or -1 do not;
    ``ALONE``: not started, the worker must start it alone)."""
    cancelled: bool = False
    """The job was cancelled while this worker held it (its cancel channel said so)."""
    runner: Any = None
    """The asyncio task running the job's task call, while it runs (to interrupt it)."""
    slot: Any = None
    """The concurrency slot this job holds while it runs (``concurrency=N``): a
    ``worker.keylimit.Slot``, else None."""


class NewJob(NamedTuple):  # a tuple: built once per enqueued job, on the hot path
    job_id: str
    task: str
    payload: bytes
    delay_ms: int = 0
    at_ms: int = 0
    unique_key: str = ""
    """Redis key marking a unique job (``@app.task(unique=...)``); "" for ordinary jobs."""
    unique_ttl_s: int = 0
    expires_at_ms: int = 0
    """Not started by this instant (epoch ms): not run, ends ``expired``; 0 for no deadline."""


def enqueue_arguments(
    backlog: str, k: QueueKeys, jobs: Sequence[NewJob]
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of the enqueue scripts (lib/enqueue_jobs.lua): the backlog, the delayed set,
    the job key prefix, then each distinct unique key once; the wake channel, then seven
    arguments per job; or, when some job has a deadline, "" and eight (its deadline last)."""
    keys = [backlog, k.delayed, k.job_prefix]
    unique_index: dict[str, int] = {}  # unique key -> its KEYS index (1-based, for Lua)
    args: list[Any] = [k.wake_channel]
    deadlines = any(j.expires_at_ms for j in jobs)
    if deadlines:
        args.append("")
    for j in jobs:
        uidx = 0
        if j.unique_key:
            uidx = unique_index.get(j.unique_key, 0)
            if not uidx:
                keys.append(j.unique_key)
                uidx = unique_index[j.unique_key] = len(keys)
        args += (j.job_id, j.task, j.payload, j.delay_ms, j.at_ms, uidx, j.unique_ttl_s * 1000)
        if deadlines:
            args.append(j.expires_at_ms)
    return keys, args


def enqueue_replies(reply: Sequence[Any]) -> list[bool | str]:
    """Per job: True added, False the id exists, or the id of the live unique job."""
    return [x.decode() if isinstance(x, bytes) else x if isinstance(x, str) else bool(x)
            for x in reply]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Completion:
    delivery: Delivery
    result: bytes


class Completed(NamedTuple):
    """What ``Backend.complete`` did with a batch."""

    done: int
    """Jobs finished: acked, result stored (the others were no longer owned by this worker)."""
    invalid: list[Completion]
    """Jobs refused because their ``result_ttl_s`` is not a valid TTL: nothing was written for
    them (not acked, record unchanged); the caller dead-letters each. Empty in normal runs."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a job failed, as stored in its record and its dead letter."""

    exc_type: str
    message: str
    traceback: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"type": self.exc_type, "message": self.message, "traceback": self.traceback}


@dataclass(slots=True)
class QueueCounts:
    backlog: int = 0
    in_flight: int = 0
    delayed: int = 0
    dead: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Backend(Protocol):
    """What a queue's storage must offer. Every method is safe to call from many workers.

    An instance serves one queue, given at construction (its name and ``QueueKeys``)."""

    kind: str
    queue: str

    async def prepare(self) -> None:
        """Create whatever the queue needs (idempotent)."""

    async def enqueue(self, jobs: Sequence[NewJob]) -> Sequence[bool | str]:
        """Add jobs in one round trip; False for a job id that already exists.

        For a job with a ``unique_key`` whose key names another live job, nothing is written
        and that job's id (a ``str``) is returned instead.
        """

    async def fetch(self, count: int, block_ms: int) -> list[Delivery]:
        """Take up to ``count`` new jobs, waiting at most ``block_ms``."""

    async def take(self, count: int, limits: Mapping[str, tuple[int, int]]) -> list[Delivery]:
        """Without blocking, take up to ``count`` new jobs and start them in the same round trip
        where the backend can (``limits``: task -> (max_attempts, result_ttl_s)); [] if not."""

    async def reclaim(self, lease_ms: int, count: int) -> list[Delivery]:
        """Take over jobs whose owner has been silent longer than the lease."""

    async def start(self, deliveries: Sequence[Delivery], *, alone: bool = False) -> list[int]:
        """Count an attempt for each delivery: >0 run it, 0 already done, -1 dead-lettered,
        ``ALONE`` not started: its last attempt follows a crash, so it must run alone (the
        worker starts it again with ``alone=True`` once nothing else runs)."""

    async def complete(self, completions: Sequence[Completion]) -> Completed:
        """Finish jobs and store their results, in one script: how many this worker still owned
        (and finished), and the jobs the script refused untouched (an invalid ``result_ttl_s``:
        no integer from 0 to ``validate.MAX_SECONDS``) for the caller to dead-letter."""

    async def retry(self, delivery: Delivery, delay_ms: int, failure: Failure) -> bool:
        """Finish this attempt and schedule another."""

    async def dead_letter(self, delivery: Delivery, failure: Failure, worker: str) -> bool:
        """Finish the job for good into the dead-letter stream."""

    async def defer(self, delivery: Delivery, delay_ms: int) -> bool:
        """Put a started job back among the delayed jobs for ``delay_ms``, without counting
        the attempt (its rate limit is reached); False if this attempt no longer owned it."""

    async def hand_back(self, deliveries: Sequence[Delivery]) -> int:
        """Return unfinished jobs to the queue at once, without counting the attempt."""

    async def reconcile(self, held: Sequence[Delivery]) -> int:
        """At a stop, after intake ended: return to the queue at once every job this consumer
        holds in Redis that is not in ``held`` (a fetch, take or start whose reply was cut
        off), without charging an attempt it counted. Returns how many."""

    async def renew(self, deliveries: Sequence[Delivery]) -> set[str]:
        """Extend the lease of running jobs; returns tokens this worker no longer owns."""

    async def move_due(self, limit: int) -> int:
        """Move due delayed jobs to the queue; returns ms until the next one (-1: none)."""

    async def replay(self, dead_ids: Sequence[str]) -> int:
        """Put dead letters back on the queue."""

    async def counts(self) -> QueueCounts:
        """Backlog, in flight, delayed and dead for ``info`` and burst mode."""

    async def heartbeat(self, ttl_ms: int) -> None:
        """Tell the backend this worker is alive (lists use it for ownership)."""

    async def leave(self) -> None:
        """This worker stops: drop what marks it as an owner once it holds nothing."""

    async def prune(self, idle_ms: int) -> int:
        """Forget dead consumers (no heartbeat, idle ``idle_ms``, holding nothing)."""
