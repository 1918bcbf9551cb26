"""What ``rq-stream info`` shows: per queue the backlog, jobs in flight, delayed, dead letters,
live workers and recent throughput; and the live workers themselves.

    snapshot = await gather(app.context, app.task_queues())
    print(json.dumps(snapshot.as_dict()))      # for scripts
    print(render_plain(snapshot))              # for people (or render_rich with rich installed)

The rendering is in ``rq_stream.client.render``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from redis import exceptions as rex

from rq_stream import codec
from rq_stream.backends.presence import Presence
from rq_stream.connect.connection import describe
from rq_stream.context import QueueConfig
from rq_stream.errors import RqStreamError

if TYPE_CHECKING:
    from rq_stream.context import Context

WINDOW_MINUTES = 10
"""The per-minute buckets of the stats hash are kept this long (see scripts/lib/finish.lua)."""

COUNTERS = ("completed", "retried", "dead", "expired")


@dataclass(frozen=True, slots=True)
class Throughput:
    """Jobs finished recently, from the per-minute buckets of a queue's stats hash."""

    last_1m: int = 0
    """Completed in about the last 60 s (the current minute plus the prorated previous one)."""
    last_10m: int = 0
    per_minute: list[int] = field(default_factory=list)
    """Completed per minute, oldest first, the current (partial) minute last."""
    retried_10m: int = 0
    dead_10m: int = 0
    expired_10m: int = 0
    """Jobs that expired (not started before their deadline) in the last 10 minutes."""


@dataclass(frozen=True, slots=True)
class QueueInfo:
    name: str
    backend: str
    backlog: int = 0
    in_flight: int = 0
    delayed: int = 0
    dead: int = 0
    workers: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    """All-time counters: completed, retried, dead, expired."""
    throughput: Throughput = field(default_factory=Throughput)
    error: str | None = None
    paused: bool = False
    """Paused (``rq-stream pause``): workers start none of its jobs; enqueues go on."""


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    name: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    in_flight: int
    """Jobs the worker holds: running plus prefetched."""
    completed: int
    failed: int
    uptime_s: float
    last_seen_s: float
    """How old this row is: the worker rewrites it every second (``INFO_EVERY_S``)."""
    running: int = 0
    """Jobs being executed now (at most ``concurrency``)."""
    prefetched: int = 0
    """Jobs fetched and started in Redis, waiting in the worker for a free executor."""


HIGH_MEMORY = 0.9
"""From this share of ``maxmemory`` on, ``info`` warns that Redis is filling up."""
FULL_MEMORY = 0.99
"""From this share on, Redis is taken to be at its limit (it refuses writes a little before
``used_memory`` reaches ``maxmemory``: the command being run counts too)."""


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    """Redis memory against its limit (on a Cluster: the fullest master)."""

    used_bytes: int
    max_bytes: int
    """``maxmemory``; 0: no limit."""
    policy: str
    used_ratio: float | None
    """``used_bytes / max_bytes``; None without a limit."""
    pressure: str
    """"ok", "high" (from 90 %) or "full" (from 99 %: producers get RedisOutOfMemory)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    url: str
    prefix: str
    at: datetime
    queues: list[QueueInfo]
    workers: list[WorkerInfo]
    memory: MemoryInfo | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out


# ---------------------------------------------------------------------- gathering
async def gather(app: Context, task_queues: Iterable[str] = ()) -> Snapshot:
    """Read everything ``info`` shows (a handful of round trips, no key scans)."""
    now_ms = await _server_ms(app)
    names = set(await known_queues(app))
    names.update(task_queues)  # the queues of the app's tasks, registered there or not
    names.update(app.queues)
    workers = await live_workers(app, now_ms)
    queues = [await queue_info(app, q, workers, now_ms) for q in sorted(names)]
    at = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
    memory = await memory_info(app)
    return Snapshot(describe(app.url), app.settings.prefix, at, queues, workers, memory)


async def memory_info(app: Context) -> MemoryInfo | None:
    """From ``INFO memory`` (None when the server does not tell)."""
    try:
        if app.topology.kind == "cluster":  # every master answers, as {node: {...}}
            reply: dict[str, Any] = await app.redis.execute_command(
                "INFO", "memory", target_nodes="primaries"
            )
        else:
            reply = await app.redis.info("memory")
    except rex.ResponseError:
        return None
    # On a Cluster, show the fullest master.
    nodes = (
        [reply] if "used_memory" in reply else [v for v in reply.values() if isinstance(v, dict)]
    )
    found = [memory_of(n) for n in nodes if "used_memory" in n]
    return max(found, key=lambda m: m.used_ratio or 0.0, default=None)


def memory_of(info: dict[str, Any]) -> MemoryInfo:
    used, limit = int(info["used_memory"]), int(info.get("maxmemory", 0))
    ratio = used / limit if limit else None
    pressure = "ok"
    if ratio is not None and ratio >= FULL_MEMORY:
        pressure = "full"
    elif ratio is not None and ratio >= HIGH_MEMORY:
        pressure = "high"
    return MemoryInfo(used, limit, str(info.get("maxmemory_policy", "?")), ratio, pressure)


async def declare_found_queues(app: Context) -> None:
    """Declare on ``app`` the backend of each queue it does not know, from the keys in Redis
    (for an application built from a URL and a prefix alone, without its module)."""
    for queue in await known_queues(app):
        if queue in app.queues:
            continue
        k = app.keys.queue(queue)
        streams = await app.redis.exists(k.stream)
        lists = await app.redis.exists(k.pending, k.consumers)
        if lists and not streams:
            app.queues[queue] = QueueConfig(queue, "lists")


async def known_queues(app: Context) -> list[str]:
    """The queues registered on the server (every queue a producer has enqueued to)."""
    names = await app.redis.smembers(app.keys.queues)
    return sorted(n.decode() for n in names)


async def _server_ms(app: Context) -> int:
    seconds, micros = await app.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def live_workers(app: Context, now_ms: int) -> list[WorkerInfo]:
    """Workers whose heartbeat key has not expired."""
    rows = await Presence(app.redis, app.scripts, app.keys).rows()
    return [_worker_info(name, raw, now_ms, seen_ms) for name, seen_ms, raw in rows]


def _worker_info(name: str, raw: bytes, now_ms: int, seen_ms: float) -> WorkerInfo:
    try:
        info: dict[str, Any] = codec.loads(raw)
    except Exception:  # a foreign or newer format: still a live worker
        info = {}
    in_flight = int(info.get("in_flight", 0))
    running = int(info.get("running", in_flight))  # an older worker does not tell them apart
    return WorkerInfo(
        name=name,
        host=str(info.get("host", "?")),
        pid=int(info.get("pid", 0)),
        queues=[str(q) for q in info.get("queues", [])],
        concurrency=int(info.get("concurrency", 0)),
        in_flight=in_flight,
        running=running,
        prefetched=max(0, in_flight - running),
        completed=int(info.get("completed", 0)),
        failed=int(info.get("failed", 0)),
        uptime_s=max(0.0, now_ms / 1000 - float(info.get("started_at", now_ms / 1000))),
        last_seen_s=max(0.0, (now_ms - seen_ms) / 1000),
    )


async def queue_info(
    app: Context, queue: str, workers: Sequence[WorkerInfo], now_ms: int
) -> QueueInfo:
    backend = app.queue_config(queue).backend
    serving = sum(1 for w in workers if queue in w.queues)
    k = app.keys.queue(queue)
    stats = await app.redis.hgetall(k.stats)
    totals, throughput = _stats(stats, now_ms)
    paused = bool(await app.redis.exists(k.paused))
    try:
        c = await app.backend(queue).counts()
    except (RqStreamError, rex.ResponseError) as exc:
        return QueueInfo(queue, backend, workers=serving, totals=totals, throughput=throughput,
                         error=str(exc), paused=paused)  # fmt: skip
    return QueueInfo(
        name=queue,
        backend=backend,
        backlog=c.backlog,
        in_flight=c.in_flight,
        delayed=c.delayed,
        dead=c.dead,
        workers=serving,
        totals=totals,
        throughput=throughput,
        paused=paused,
    )


def _stats(raw: dict[bytes, bytes], now_ms: int) -> tuple[dict[str, int], Throughput]:
    totals = {name: 0 for name in COUNTERS}
    buckets: dict[str, dict[int, int]] = {name: {} for name in COUNTERS}
    for key, value in raw.items():
        name, _, minute = key.decode().partition(":")
        if name not in totals:
            continue
        if minute:
            buckets[name][int(minute)] = int(value)
        else:
            totals[name] = int(value)
    return totals, throughput(buckets, now_ms)


def throughput(buckets: dict[str, dict[int, int]], now_ms: int) -> Throughput:
    """Recent counts from per-minute buckets (``minute = epoch_ms // 60000``)."""
    current = now_ms // 60000
    window = range(current - WINDOW_MINUTES + 1, current + 1)
    completed = buckets.get("completed", {})
    per_minute = [completed.get(m, 0) for m in window]
    into_minute = (now_ms % 60000) / 60000
    last_1m = per_minute[-1] + round(per_minute[-2] * (1 - into_minute))

    def total(name: str) -> int:
        return sum(buckets.get(name, {}).get(m, 0) for m in window)

    return Throughput(
        last_1m=last_1m,
        last_10m=sum(per_minute),
        per_minute=per_minute,
        retried_10m=total("retried"),
        dead_10m=total("dead"),
        expired_10m=total("expired"),
    )
