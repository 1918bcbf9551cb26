"""``rq-stream dlq``: list, show, replay or purge a queue's dead letters."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from rq_stream.cli.common import EXIT_FAILED, CliError, load, run_with, to_json
from rq_stream.client.app import RqStream
from rq_stream.client.dead_letters import DeadLetter, DeadLetters
from rq_stream.client.render import plain_table


def dlq_command(args: argparse.Namespace) -> int:
    app = load(args)
    action: Callable[[DeadLetters, argparse.Namespace], Awaitable[int]] = args.action

    async def body(app: RqStream) -> int:
        return await action(app.dead_letters(args.queue), args)

    return run_with(app, body)


def _letter_dict(letter: DeadLetter, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": letter.id,
        "queue": letter.queue,
        "job_id": letter.job_id,
        "task": letter.task,
        "error_type": letter.exc_type,
        "message": letter.message,
        "attempts": letter.attempts,
        "first_at": letter.first_at.isoformat(),
        "last_at": letter.last_at.isoformat(),
        "worker": letter.worker,
    }
    if full:
        out.update(args=letter.args, kwargs=letter.kwargs, traceback=letter.traceback)
    return out


async def dlq_list(dlq: DeadLetters, args: argparse.Namespace) -> int:
    letters = await dlq.list(limit=args.limit, newest_first=args.newest)
    if args.json:
        print(to_json([_letter_dict(x, full=False) for x in letters]))
        return 0
    total = await dlq.count()
    print(f"{total} dead letter(s) in queue {dlq.queue!r}" + (":" if letters else ""))
    rows = [
        [
            x.id,
            x.job_id,
            x.task or "?",
            str(x.attempts),
            x.last_at.strftime("%Y-%m-%d %H:%M:%S"),
            _short(f"{x.exc_type}: {x.message}", 70),
        ]
        for x in letters
    ]
    if rows:
        headers = ("id", "job id", "task", "attempts", "failed at (UTC)", "error")
        print(plain_table(headers, rows))
    return 0


def _short(text: str, width: int) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


async def _find_letter(dlq: DeadLetters, ref: str) -> DeadLetter:
    """A dead letter by its entry id, its job id, or a unique prefix of its job id (what the
    demo prints)."""
    letter = await dlq.get(ref)
    if letter is not None:
        return letter
    matches = [x for x in await dlq.all() if x.job_id.startswith(ref)] if ref else []
    job_ids = sorted({x.job_id for x in matches})
    if len(job_ids) == 1:
        return matches[0]
    if len(job_ids) > 1:
        more = len(job_ids) - 5
        shown = ", ".join(job_ids[:5]) + (f" and {more} more" if more > 0 else "")
        raise CliError(f"{ref!r} is ambiguous in queue {dlq.queue!r}: it begins the job ids "
                       f"{shown}; give more of the id")  # fmt: skip
    raise CliError(f"no dead letter {ref!r} in queue {dlq.queue!r} (give its id, its job id or "
                   "the start of its job id)")  # fmt: skip


async def dlq_show(dlq: DeadLetters, args: argparse.Namespace) -> int:
    letter = await _find_letter(dlq, args.id)
    info = _letter_dict(letter, full=True)
    if args.json:
        print(to_json(info))
        return 0
    tb = info.pop("traceback")
    for key, value in info.items():
        print(f"{key + ':':<11} {to_json(value) if key in ('args', 'kwargs') else value}")
    if tb:
        print("traceback:\n" + tb.rstrip())
    return 0


async def _select(dlq: DeadLetters, args: argparse.Namespace) -> list[DeadLetter]:
    """The dead letters named by ids, or by --all / --task / --error-type."""
    filtered = args.all or args.task or args.error_type
    if args.ids and filtered:
        raise CliError("give dead-letter ids or --all/--task/--error-type, not both")
    if args.ids:
        chosen = []
        for wanted in args.ids:
            chosen.append(await _find_letter(dlq, wanted))
        return chosen
    if not filtered:
        raise CliError("say which dead letters: give their ids (or job ids), or --all, "
                       "--task NAME, --error-type TYPE")  # fmt: skip
    return [
        x
        for x in await dlq.all()
        if (not args.task or x.task == args.task or (x.task or "").endswith("." + args.task))
        and (not args.error_type or x.exc_type == args.error_type)
    ]


async def _confirm(verb: str, n: int, queue: str, yes: bool) -> bool:
    """Ask before touching more than one job; refuse without a terminal unless ``yes``."""
    if n <= 1 or yes:
        return True
    what = f"{n} dead letters of queue {queue!r}"
    if not sys.stdin.isatty():
        raise CliError(f"refusing to {verb} {what} without confirmation: stdin is not a "
                       "terminal; pass --yes to confirm")  # fmt: skip
    print(f"{verb.capitalize()} {what}? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = await anyio.to_thread.run_sync(sys.stdin.readline)
    return answer.strip().lower() in ("y", "yes")


async def dlq_replay(dlq: DeadLetters, args: argparse.Namespace) -> int:
    return await _dlq_change(dlq, args, "replay", _replay_ids)


async def dlq_purge(dlq: DeadLetters, args: argparse.Namespace) -> int:
    return await _dlq_change(dlq, args, "purge", _purge_ids)


async def _dlq_change(
    dlq: DeadLetters,
    args: argparse.Namespace,
    verb: str,
    apply: Callable[[DeadLetters, list[str]], Awaitable[int]],
) -> int:
    letters = await _select(dlq, args)
    if not letters:
        print(f"no dead letters to {verb} in queue {dlq.queue!r}")
        return 0
    if not await _confirm(verb, len(letters), dlq.queue, args.yes):
        print("nothing done", file=sys.stderr)
        return EXIT_FAILED
    n = await apply(dlq, [x.id for x in letters])
    past = {"replay": "replayed", "purge": "purged"}[verb]
    print(f"{past} {n} dead letter(s) of queue {dlq.queue!r}")
    return 0


async def _replay_ids(dlq: DeadLetters, ids: list[str]) -> int:
    return sum([await dlq.replay(*ids[i : i + 500]) for i in range(0, len(ids), 500)])


async def _purge_ids(dlq: DeadLetters, ids: list[str]) -> int:
    return sum([await dlq.purge(ids[i : i + 500]) for i in range(0, len(ids), 500)])
