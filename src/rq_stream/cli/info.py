"""``rq-stream info``: queues, workers and throughput, once or refreshed (``--watch``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

import anyio

from rq_stream.cli.common import CliError, load, run_with
from rq_stream.client import admin
from rq_stream.client.app import RqStream
from rq_stream.client.render import render_plain, render_rich


def info_command(args: argparse.Namespace) -> int:
    if args.app:
        if args.prefix:
            raise CliError("--prefix is for use without MODULE:APP (the app has its own prefix)")
        app = load(args)
    else:
        app = RqStream(args.url, prefix=args.prefix or "rqs")
    display = _Display(json_lines=args.json, watch=args.watch)
    if not args.watch:
        return run_with(app, lambda a: _info_once(a, display))
    return run_with(app, lambda a: _info_watch(a, display, args.interval))


async def _info_once(app: RqStream, display: _Display) -> int:
    await admin.declare_found_queues(app.context)
    display.show(await admin.gather(app.context, app.task_queues()))
    return 0


async def _info_watch(app: RqStream, display: _Display, interval_s: float) -> int:
    """Refresh until SIGINT/SIGTERM (then exit 0)."""
    with display, anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:

            async def stop_on_signal() -> None:
                async for _ in signals:
                    tg.cancel_scope.cancel()

            tg.start_soon(stop_on_signal)
            await admin.declare_found_queues(app.context)
            while True:
                display.show(await admin.gather(app.context, app.task_queues()))
                await anyio.sleep(interval_s)
    return 0


class _Display:
    """JSON lines; or a table: rich (redrawn in place with --watch) when stdout is a terminal
    and rich is installed, else plain aligned text."""

    def __init__(self, *, json_lines: bool, watch: bool) -> None:
        self.json_lines = json_lines
        self.watch = watch
        self.live: Any = None
        self.console: Any = None
        if not json_lines and sys.stdout.isatty():
            try:
                from rich.console import Console
            except ImportError:
                pass
            else:
                self.console = Console()

    def show(self, snapshot: admin.Snapshot) -> None:
        if self.json_lines:
            print(json.dumps(snapshot.as_dict()), flush=True)
        elif self.console is None:
            print(render_plain(snapshot) + ("\n" if self.watch else ""), flush=True)
        elif not self.watch:
            self.console.print(render_rich(snapshot))
        elif self.live is None:
            from rich.live import Live

            self.live = Live(render_rich(snapshot), console=self.console, auto_refresh=False)
            self.live.start(refresh=True)
        else:
            self.live.update(render_rich(snapshot), refresh=True)

    def __enter__(self) -> _Display:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
