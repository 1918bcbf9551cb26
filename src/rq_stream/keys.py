"""Every Redis key rq_stream uses is named here, and nowhere else.

All keys of one queue share the hash tag ``{queue}`` (``prefix:{queue}:...``) so a queue lives in
one Redis Cluster slot and every script touching it is single-slot. Keys that span queues (worker
heartbeats, the queue registry, locks, caches) carry no queue tag and are never used in the same
script as queue keys.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "rq_stream"
"""The consumer group every worker of every queue joins."""


@dataclass(frozen=True, slots=True)
class QueueKeys:
    prefix: str
    queue: str

    @property
    def tag(self) -> str:
        return f"{self.prefix}:{{{self.queue}}}"

    @property
    def stream(self) -> str:
        """Stream (streams backend): the backlog. Never trimmed."""
        return f"{self.tag}:stream"

    @property
    def pending(self) -> str:
        """List (lists backend): the backlog; LPUSH in, BLMOVE out from the right."""
        return f"{self.tag}:list"

    @property
    def delayed(self) -> str:
        """Sorted set of job ids scored by due time in ms (delays and retry backoff)."""
        return f"{self.tag}:delayed"

    @property
    def dead(self) -> str:
        """Stream of dead letters: the original envelope plus the failure."""
        return f"{self.tag}:dead"

    @property
    def dead_index(self) -> str:
        """Hash: job id -> the entry id of its newest dead letter in ``dead`` (written with the
        dead letter, dropped by replay and delete), so one job's dead letter is found without a
        scan. An entry id no longer in the stream (trimmed, deleted by hand) counts as absent."""
        return f"{self.tag}:dead:index"

    @property
    def job_prefix(self) -> str:
        """Prefix of the per-job hashes (scripts receive it as a KEYS entry)."""
        return f"{self.tag}:job:"

    def job(self, job_id: str) -> str:
        """Hash: status, attempts, result or error, timestamps, worker."""
        return f"{self.job_prefix}{job_id}"

    def done_channel(self, job_id: str) -> str:
        """Pub/sub channel on which a job's final outcome is published."""
        return f"{self.tag}:done:{job_id}"

    @property
    def cancel_channel(self) -> str:
        """Pub/sub channel: a running job of this queue was cancelled (its id as the message);
        each worker of the queue subscribes once and stops the job if it runs it."""
        return f"{self.tag}:cancel"

    @property
    def wake_channel(self) -> str:
        """Pub/sub channel: a job was scheduled sooner than any other delayed job (its due
        time in ms as the message); workers' delayed movers re-check at once."""
        return f"{self.tag}:wake"

    @property
    def paused(self) -> str:
        """String (server time in ms of the pause) while the queue is paused: workers take
        nothing from it; enqueues go on as usual."""
        return f"{self.tag}:paused"

    @property
    def pause_channel(self) -> str:
        """Pub/sub channel: the queue was paused ("1") or resumed ("0"); workers re-read
        ``paused`` at once (and every second anyway, for a missed message)."""
        return f"{self.tag}:pause"

    @property
    def processing_prefix(self) -> str:
        """Prefix of the per-worker processing lists (lists backend)."""
        return f"{self.tag}:proc:"

    def processing(self, consumer: str) -> str:
        """List (lists backend): jobs one worker process has taken and not finished."""
        return f"{self.processing_prefix}{consumer}"

    @property
    def consumers(self) -> str:
        """Set (lists backend): consumers that may own a processing list of this queue."""
        return f"{self.tag}:consumers"

    def heartbeat(self, consumer: str) -> str:
        """String with a TTL (lists backend): the server time (ms) of ``consumer``'s last beat.
        Once it has expired, or is older than the lease, any worker may return that consumer's
        processing list to the backlog."""
        return f"{self.tag}:alive:{consumer}"

    @property
    def stats(self) -> str:
        """Hash: counters (completed, failed, retried, dead) used by ``info``."""
        return f"{self.tag}:stats"

    def unique(self, digest: str) -> str:
        """String: holds the job id of the unique job with this digest while it lives."""
        return f"{self.tag}:unique:{digest}"

    def slots(self, name: str) -> str:
        """Sorted set: the holders (``job_id:attempt``) of a task's concurrency limit (or of one
        key's), scored by when their hold expires (ms)."""
        return f"{self.tag}:slots:{name}"

    def slots_waiting(self, name: str) -> str:
        """Sorted set: the job ids deferred for want of one of ``slots(name)``, scored by when
        (ms); a freed slot wakes the oldest."""
        return f"{self.tag}:slots-waiting:{name}"

    def rate(self, name: str) -> str:
        """Rate limiter state for a task (or a per-key limit) of this queue."""
        return f"{self.tag}:rate:{name}"

    @property
    def schedules(self) -> str:
        """Hash: schedule name -> its definition (rq_stream.schedules), for the schedules
        whose jobs go to this queue (in the queue's slot, so a tick is enqueued atomically)."""
        return f"{self.tag}:schedules"

    @property
    def schedule_ticks(self) -> str:
        """Hash: schedule name -> its last tick (ms) enqueued or skipped; only moves forward."""
        return f"{self.tag}:schedules:ticks"


@dataclass(frozen=True, slots=True)
class AppKeys:
    prefix: str

    def queue(self, queue: str) -> QueueKeys:
        return QueueKeys(self.prefix, queue)

    @property
    def queues(self) -> str:
        """Set of queue names known to this prefix (for ``info`` and cross-queue listings)."""
        return f"{self.prefix}:queues"

    @property
    def workers(self) -> str:
        """Sorted set of worker names scored by their last heartbeat (ms)."""
        return f"{self.prefix}:workers"

    def worker(self, name: str) -> str:
        """String with a TTL: a live worker's heartbeat and description."""
        return f"{self.prefix}:worker:{name}"

    @property
    def schedules_channel(self) -> str:
        """Pub/sub channel: a schedule was added or removed (workers re-read them)."""
        return f"{self.prefix}:schedules:changed"

    def lock(self, name: str) -> str:
        return f"{self.prefix}:lock:{name}"

    def lock_channel(self, name: str) -> str:
        """Pub/sub channel on which a lock's release is announced to its waiters."""
        return f"{self.lock(name)}:released"

    def cache(self, namespace: str, key: str) -> str:
        return f"{self.prefix}:cache:{namespace}:{key}"

    def cache_fill(self, namespace: str, key: str) -> str:
        """String: held by the one caller recomputing a missing cache entry."""
        return f"{self.prefix}:cache:{namespace}:{key}:fill"

    def cache_stats(self, namespace: str) -> str:
        """Hash: hit/miss/compute counters shared by every process (``redis_stats=True``)."""
        return self.cache(namespace, "~stats")

    def cache_channel(self, namespace: str, key: str) -> str:
        return f"{self.prefix}:cache:{namespace}:{key}:ready"

    def limiter(self, name: str) -> str:
        """Rate limiter state outside any queue (``app.rate_limiter``)."""
        return f"{self.prefix}:ratelimit:{name}"
