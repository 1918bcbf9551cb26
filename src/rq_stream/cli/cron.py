"""``rq-stream cron list|remove``: the schedules stored in Redis, with their next runs."""

from __future__ import annotations

import argparse
from typing import Any

from rq_stream.cli.common import EXIT_FAILED, load, run_with, to_json
from rq_stream.client.app import RqStream
from rq_stream.client.render import plain_table
from rq_stream.client.schedules import ScheduleInfo

_TIME = "%Y-%m-%d %H:%M:%S"


def cron_command(args: argparse.Namespace) -> int:
    app = load(args)
    if args.cron_action == "remove":
        return run_with(app, lambda app: _remove(app, args.name))
    return run_with(app, lambda app: _list(app, args.json))


def _dict(s: ScheduleInfo) -> dict[str, Any]:
    last = s.last_run.isoformat() if s.last_run else None
    return {"name": s.name, "task": s.task, "queue": s.queue, "when": s.when, "tz": s.tz,
            "catch_up": s.catch_up, "next_run": s.next_run.isoformat(),
            "last_run": last}  # fmt: skip


async def _list(app: RqStream, as_json: bool) -> int:
    schedules = await app.list_schedules()
    if as_json:
        print(to_json([_dict(s) for s in schedules]))
        return 0
    print(f"{len(schedules)} schedule(s)" + (":" if schedules else ""))
    rows = [_row(s) for s in schedules]
    if rows:
        headers = ("name", "task", "queue", "cron/every", "tz", "catch up", "next run (UTC)",
                   "last run (UTC)")  # fmt: skip
        print(plain_table(headers, rows))
    return 0


def _row(s: ScheduleInfo) -> list[str]:
    last = s.last_run.strftime(_TIME) if s.last_run else "-"
    return [s.name, s.task, s.queue, s.when, s.tz, s.catch_up, s.next_run.strftime(_TIME), last]


async def _remove(app: RqStream, name: str) -> int:
    if await app.remove_schedule(name):
        print(f"removed schedule {name!r}")
        return 0
    print(f"rq-stream: no schedule named {name!r} is stored")
    return EXIT_FAILED
