"""How ``rq-stream info`` shows a ``Snapshot`` (from ``rq_stream.client.admin.gather``): plain
aligned text, or a rich renderable when rich is installed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType

    from rq_stream.client.admin import MemoryInfo, Snapshot

QUEUE_COLUMNS = ("queue", "backend", "backlog", "running", "delayed", "dead letters",
                 "workers", "done/1m", "done/10m", "retried/10m", "dead/10m",
                 "expired/10m")  # fmt: skip
WORKER_COLUMNS = ("worker", "pid", "queues", "concurrency", "running", "prefetched",
                  "completed", "failed", "uptime", "last seen")  # fmt: skip


def queue_rows(snapshot: Snapshot) -> list[list[str]]:
    rows = []
    for q in snapshot.queues:
        t = q.throughput
        name = f"{q.name} (paused)" if q.paused else q.name
        if q.error is not None:
            rows.append([name, q.backend, f"error: {q.error}", *[""] * 9])
            continue
        numbers = (q.backlog, q.in_flight, q.delayed, q.dead, q.workers, t.last_1m, t.last_10m,
                   t.retried_10m, t.dead_10m, t.expired_10m)  # fmt: skip
        rows.append([name, q.backend, *(f"{n:,}" for n in numbers)])
    return rows


def worker_rows(snapshot: Snapshot) -> list[list[str]]:
    return [
        [
            w.name,
            str(w.pid),
            ",".join(w.queues),
            str(w.concurrency),
            f"{w.running:,}",
            f"{w.prefetched:,}",
            f"{w.completed:,}",
            f"{w.failed:,}",
            _duration(w.uptime_s),
            f"{_duration(w.last_seen_s)} ago",
        ]
        for w in snapshot.workers
    ]


def memory_lines(memory: MemoryInfo | None) -> list[str]:
    """The memory line, and a warning line when Redis is near or at ``maxmemory``."""
    if memory is None:
        return []
    used = _bytes(memory.used_bytes)
    if not memory.max_bytes or memory.used_ratio is None:
        return [f"memory: {used} used, no maxmemory set (policy {memory.policy})"]
    lines = [
        f"memory: {used} used of {_bytes(memory.max_bytes)} maxmemory "
        f"({memory.used_ratio:.0%}), policy {memory.policy}"
    ]
    if memory.pressure == "full":
        lines.append(
            "WARNING: Redis is at maxmemory: new jobs are refused (RedisOutOfMemory) until the "
            "workers drain the queues or maxmemory is raised"
        )
    elif memory.pressure == "high":
        lines.append(
            f"WARNING: Redis memory is at {memory.used_ratio:.0%} of maxmemory: at the limit "
            "new jobs are refused (RedisOutOfMemory)"
        )
    return lines


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    if n < 1024**3:
        return f"{n / 1024**2:.1f} MiB"
    return f"{n / 1024**3:.2f} GiB"


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def title(snapshot: Snapshot) -> str:
    stamp = snapshot.at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"rq_stream at {snapshot.url}, prefix {snapshot.prefix!r}, {stamp}"


def plain_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns aligned with spaces; numbers (and their headers) right-aligned."""
    table = [list(headers), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    numeric = [i > 0 and all(_numeric(r[i]) for r in table[1:]) for i in range(len(headers))]
    lines = []
    for row in table:
        cells = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").isdigit() or cell == ""


def render_plain(snapshot: Snapshot) -> str:
    parts = [title(snapshot), ""]
    if snapshot.queues:
        parts.append(plain_table(QUEUE_COLUMNS, queue_rows(snapshot)))
    else:
        parts.append("no queues yet (nothing was enqueued and no worker started)")
    parts += ["", f"{len(snapshot.workers)} worker(s) alive"]
    if snapshot.workers:
        parts.append(plain_table(WORKER_COLUMNS, worker_rows(snapshot)))
    if snapshot.memory is not None:
        parts += ["", *memory_lines(snapshot.memory)]
    return "\n".join(parts)


def render_rich(snapshot: Snapshot) -> RenderableType:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    def table(heading: str, columns: Sequence[str], left: set[int]) -> Table:
        t = Table(title=heading, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for i, name in enumerate(columns):
            t.add_column(name, justify="left" if i in left else "right", no_wrap=i == 0)
        return t

    queues = table(title(snapshot), QUEUE_COLUMNS, {0, 1})
    for row in queue_rows(snapshot):
        queues.add_row(*row)
    heading = f"{len(snapshot.workers)} worker(s) alive"
    memory = [
        Text(line, style="bold red" if line.startswith("WARNING") else "")
        for line in memory_lines(snapshot.memory)
    ]
    if not snapshot.workers:
        return Group(queues, heading, *memory)
    workers = table(heading, WORKER_COLUMNS, {0, 2})
    for row in worker_rows(snapshot):
        workers.add_row(*row)
    return Group(queues, workers, *memory)
