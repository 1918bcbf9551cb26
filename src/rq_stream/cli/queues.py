"""``rq-stream pause`` and ``rq-stream resume``: stop and restart the taking of a queue's jobs
(enqueues go on; see :mod:`rq_stream.client.pausing`)."""

from __future__ import annotations

import argparse
from typing import Any

from rq_stream.cli.common import CliError, load, run_with
from rq_stream.client.app import RqStream
from rq_stream.client.pausing import is_paused
from rq_stream.validate import queue as queue_problem


def _queue(args: argparse.Namespace) -> str:
    if problem := queue_problem("QUEUE", args.queue):
        raise CliError(problem)
    return str(args.queue)


def pause_command(args: argparse.Namespace) -> int:
    queue = _queue(args)

    async def body(app: RqStream) -> int:
        if await app.pause(queue):
            print(f"queue {queue!r} paused: workers start none of its jobs within a second "
                  "(running jobs finish); enqueues still succeed", flush=True)  # fmt: skip
        else:
            print(f"queue {queue!r} was already paused", flush=True)
        return 0

    return run_with(load(args), body)


def resume_command(args: argparse.Namespace) -> int:
    queue = _queue(args)

    async def body(app: RqStream) -> int:
        if await app.resume(queue):
            print(f"queue {queue!r} resumed", flush=True)
        else:
            paused = await is_paused(app.context, queue)
            print(f"queue {queue!r} was not paused" + (" (it is now)" if paused else ""),
                  flush=True)  # fmt: skip
        return 0

    return run_with(load(args), body)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    for name, fn, what in (
        ("pause", pause_command, "stop workers taking a queue's jobs (enqueues go on)"),
        ("resume", resume_command, "let workers take a paused queue's jobs again"),
    ):
        p = sub.add_parser(name, parents=[common], help=what)
        p.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
        p.add_argument("queue", help="the queue's name")
        p.set_defaults(func=fn)
