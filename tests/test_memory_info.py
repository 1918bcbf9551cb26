"""How ``rq-stream info`` reports Redis memory against ``maxmemory`` (rendering, in-process)."""

from __future__ import annotations

import datetime as dt

from rich.console import Console

from rq_stream.client.admin import Snapshot, memory_of
from rq_stream.client.render import memory_lines, render_plain, render_rich

MIB = 1024 * 1024


def test_pressure_levels() -> None:
    def pressure(used: int, limit: int) -> str:
        info = {"used_memory": used, "maxmemory": limit, "maxmemory_policy": "noeviction"}
        return memory_of(info).pressure

    assert pressure(10 * MIB, 0) == "ok"  # no limit
    assert pressure(17 * MIB, 20 * MIB) == "ok"
    assert pressure(19 * MIB, 20 * MIB) == "high"
    assert pressure(20 * MIB - 1000, 20 * MIB) == "full"


def test_lines_and_warnings() -> None:
    full = memory_of(
        {"used_memory": 20 * MIB, "maxmemory": 20 * MIB, "maxmemory_policy": "noeviction"}
    )
    assert memory_lines(full) == [
        "memory: 20.0 MiB used of 20.0 MiB maxmemory (100%), policy noeviction",
        "WARNING: Redis is at maxmemory: new jobs are refused (RedisOutOfMemory) until the "
        "workers drain the queues or maxmemory is raised",
    ]
    high = memory_of({"used_memory": 19 * MIB, "maxmemory": 20 * MIB, "maxmemory_policy": "x"})
    assert memory_lines(high)[1] == (
        "WARNING: Redis memory is at 95% of maxmemory: at the limit new jobs are refused "
        "(RedisOutOfMemory)"
    )
    unlimited = memory_of({"used_memory": 1536, "maxmemory": 0, "maxmemory_policy": "noeviction"})
    assert memory_lines(unlimited) == ["memory: 1.5 KiB used, no maxmemory set (policy noeviction)"]
    assert memory_lines(None) == []

    snapshot = Snapshot("redis://h:6379/0", "p", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                        [], [], full)  # fmt: skip
    assert render_plain(snapshot).splitlines()[-1].startswith("WARNING: Redis is at maxmemory")
    console = Console(record=True, width=200)
    console.print(render_rich(snapshot))
    assert "WARNING: Redis is at maxmemory" in console.export_text()
