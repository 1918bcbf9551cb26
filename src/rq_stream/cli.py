"""The ``rq-stream`` command line.

  rq-stream worker MODULE:APP [--processes N] [--concurrency M] [--queues a,b] [--burst]
  rq-stream info [MODULE:APP | --url URL --prefix P] [--json] [--watch]
  rq-stream enqueue MODULE:APP TASK [--args JSON] [--kwargs JSON] [--queue Q] [--delay S]
  rq-stream result MODULE:APP JOB_ID [--queue Q] [--wait S]
  rq-stream dlq MODULE:APP list|show|replay|purge [--queue Q] ...

Exit codes: 0 done; 1 the job failed (result), the user declined, or an unexpected error; 2 bad
input or Redis unreachable; 3 the job has not finished (result); 78 a worker cannot start (bad
import or configuration, or Redis unreachable at start-up).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import importlib
import json
import os
import signal
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, NoReturn

import anyio
import structlog
from redis import exceptions as rex

from rq_stream.client import admin
from rq_stream.client.app import RqStream
from rq_stream.client.dead_letters import DeadLetter, DeadLetters
from rq_stream.client.job import Job, outcome
from rq_stream.client.task import Task
from rq_stream.errors import (
    ConfigurationError,
    ConnectionFailed,
    JobNotFound,
    ResultTimeout,
    RqStreamError,
    TaskFailed,
    UnknownTask,
)
from rq_stream.logs import configure_logging
from rq_stream.worker import Worker
from rq_stream.worker.supervisor import (
    EXIT_CANNOT_START,
    RestartBackoff,
    Supervisor,
    SupervisorLink,
)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FINISHED = 3


class CliError(Exception):
    """A user mistake: printed as one line on stderr."""

    exit_code = EXIT_USAGE


class CannotStart(CliError):
    """A worker cannot start (bad import, bad configuration): restarting it cannot help."""

    exit_code = EXIT_CANNOT_START


# ---------------------------------------------------------------------- loading the app
def load_app(target: str) -> RqStream:
    """Import ``module:attribute`` and return the RqStream application it names."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(
            f"expected MODULE:ATTRIBUTE (for example workers.example:app), got {target!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CliError(
                f"cannot import module {module_name!r}: no such module (run from the directory "
                "that contains it, or check PYTHONPATH)"
            ) from None
        raise CliError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise CliError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    try:
        app = getattr(module, attr)
    except AttributeError:
        raise CliError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(app, RqStream):
        raise CliError(f"{target} is not an RqStream application (it is a {type(app).__name__})")
    return app


def _load(args: argparse.Namespace) -> RqStream:
    app = load_app(args.app)
    if getattr(args, "url", None):
        app.url = args.url  # re-derives the topology and re-checks wait_replicas
    return app


def _run_with(app: RqStream, body: Callable[[RqStream], Awaitable[int]]) -> int:
    """Connect (a clear ConnectionFailed if Redis does not answer), run ``body``, close."""

    async def main() -> int:
        async with app:
            return await body(app)

    return anyio.run(main)


def _resolve_task(app: RqStream, name: str) -> Task[Any, Any]:
    """A task by its full name, or by the last part of it when that is unambiguous."""
    if name in app.tasks:
        return app.tasks[name]
    matches = [t for full, t in app.tasks.items() if full.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(sorted(t.name for t in matches))
        raise UnknownTask(f"task name {name!r} is ambiguous: give one of {names}")
    return app.get_task(name)  # raises UnknownTask naming the known tasks


# ---------------------------------------------------------------------- worker
def _worker(args: argparse.Namespace) -> int:
    configure_logging(args.log_format, args.log_level)
    link = SupervisorLink.from_env()
    if link is not None:
        structlog.contextvars.bind_contextvars(process=link.index)
    try:
        worker = _build_worker(args)
    except CannotStart as exc:
        if link is None:
            raise
        link.cannot_start(str(exc))
        return EXIT_CANNOT_START
    if link is not None:
        link.close()
    if args.processes > 1:
        return _supervise(args, worker.app)
    _stop_on_early_sigterm(worker)
    anyio.run(_run_worker, worker, link)
    return 0


def _build_worker(args: argparse.Namespace) -> Worker:
    try:
        app = _load(args)
        queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
        return Worker(app, queues=queues, concurrency=args.concurrency, burst=args.burst,
                      grace_s=args.grace, lease_s=args.lease,
                      prefetch=args.prefetch)  # fmt: skip
    except (CliError, ConfigurationError, ConnectionFailed) as exc:
        raise CannotStart(str(exc)) from exc


def _stop_on_early_sigterm(worker: Worker) -> None:
    """A SIGTERM before the worker installs its own handlers (while it connects) is a graceful
    stop too, not death by the default handler."""

    def handler(signum: int, frame: object) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            worker.request_stop()
        else:
            loop.call_soon_threadsafe(worker.request_stop)

    signal.signal(signal.SIGTERM, handler)


async def _run_worker(worker: Worker, link: SupervisorLink | None) -> None:
    try:
        await worker.app.connect()  # fail here, outside the task group, if Redis is unreachable
    except ConnectionFailed as exc:
        if link is None:  # a supervised child exits 2 and is restarted: Redis was up before
            raise CannotStart(str(exc)) from exc
        raise
    if link is None:
        await worker.run()
        return
    async with anyio.create_task_group() as tg:
        tg.start_soon(link.watch, worker.request_stop)
        await worker.run()
        tg.cancel_scope.cancel()


def _supervise(args: argparse.Namespace, app: RqStream) -> int:
    try:
        _run_with(app, _nothing)  # one clear error now rather than one per child
    except ConnectionFailed as exc:
        raise CannotStart(str(exc)) from exc
    supervisor = Supervisor(
        _child_command(args),
        args.processes,
        burst=args.burst,
        backoff=RestartBackoff(base_s=args.restart_delay),
        stop_timeout_s=args.grace + 10.0,
    )
    code = anyio.run(supervisor.run)
    if supervisor.fatal is not None:
        raise CannotStart(f"a worker process cannot start: {supervisor.fatal}")
    return code


async def _nothing(app: RqStream) -> int:
    return 0


def _child_command(args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "rq_stream"]
    if args.debug:
        cmd.append("--debug")
    cmd += ["worker", args.app, "--concurrency", str(args.concurrency), "--grace", str(args.grace),
            "--log-format", args.log_format, "--log-level", args.log_level]  # fmt: skip
    if args.queues:
        cmd += ["--queues", args.queues]
    if args.lease is not None:
        cmd += ["--lease", str(args.lease)]
    if args.prefetch is not None:
        cmd += ["--prefetch", str(args.prefetch)]
    if args.burst:
        cmd.append("--burst")
    if args.url:
        cmd += ["--url", args.url]
    return cmd


# ---------------------------------------------------------------------- info
def _info(args: argparse.Namespace) -> int:
    if args.app:
        if args.prefix:
            raise CliError("--prefix is for use without MODULE:APP (the app has its own prefix)")
        app = _load(args)
    else:
        app = RqStream(args.url, prefix=args.prefix or "rqs")
    display = _Display(json_lines=args.json, watch=args.watch)
    if not args.watch:
        return _run_with(app, lambda a: _info_once(a, display))
    return _run_with(app, lambda a: _info_watch(a, display, args.interval))


async def _info_once(app: RqStream, display: _Display) -> int:
    await admin.declare_found_queues(app)
    display.show(await admin.gather(app))
    return 0


async def _info_watch(app: RqStream, display: _Display, interval_s: float) -> int:
    """Refresh until SIGINT/SIGTERM (then exit 0)."""
    with display, anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:

            async def stop_on_signal() -> None:
                async for _ in signals:
                    tg.cancel_scope.cancel()

            tg.start_soon(stop_on_signal)
            await admin.declare_found_queues(app)
            while True:
                display.show(await admin.gather(app))
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
            print(admin.render_plain(snapshot) + ("\n" if self.watch else ""), flush=True)
        elif not self.watch:
            self.console.print(admin.render_rich(snapshot))
        elif self.live is None:
            from rich.live import Live

            self.live = Live(admin.render_rich(snapshot), console=self.console, auto_refresh=False)
            self.live.start(refresh=True)
        else:
            self.live.update(admin.render_rich(snapshot), refresh=True)

    def __enter__(self) -> _Display:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()


# ---------------------------------------------------------------------- enqueue / result
def _json_arg(option: str, text: str, kind: type[list[Any]] | type[dict[str, Any]]) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option} is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, kind):
        want = "a JSON array, like '[1, 2]'" if kind is list else "a JSON object, like '{\"x\": 1}'"
        raise CliError(f"{option} must be {want}, got {type(value).__name__}: {text!r}")
    return value


def _enqueue(args: argparse.Namespace) -> int:
    positional = _json_arg("--args", args.args, list)
    keywords = _json_arg("--kwargs", args.kwargs, dict)
    app = _load(args)
    task = _resolve_task(app, args.task)
    bound = task.options(job_id=args.job_id, delay_s=args.delay, queue=args.queue)

    async def body(_: RqStream) -> int:
        job = await bound.enqueue(*positional, **keywords)
        print(job.id, flush=True)
        return 0

    return _run_with(app, body)


def _to_json(value: Any) -> str:
    def default(obj: object) -> Any:
        if isinstance(obj, (dt.datetime, dt.date, dt.time)):
            return obj.isoformat()
        if isinstance(obj, (Decimal, uuid.UUID)):
            return str(obj)
        if isinstance(obj, bytes):
            return base64.b64encode(obj).decode()
        if isinstance(obj, (set, frozenset)):
            return sorted(obj, key=repr)
        return repr(obj)

    return json.dumps(value, default=default, ensure_ascii=False)


async def _find_queue(app: RqStream, job_id: str) -> str:
    """The queue holding a record of this job (the default queue first)."""
    candidates = [app.default_queue, *sorted({t.settings.queue for t in app.tasks.values()})]
    candidates += await app.known_queues()
    for queue in dict.fromkeys(candidates):
        if await app.redis.exists(app.keys.queue(queue).job(job_id)):
            return queue
    return app.default_queue


async def _result_now(app: RqStream, job: Job[Any]) -> Any:
    """The outcome if the job has finished; ResultTimeout (saying its status) if not."""
    found = await app.results.read(job)
    if found is None:
        status = (await job.status()).value
        raise ResultTimeout(f"job {job.id} has not finished: it is {status}")
    if found[0] == b"N":
        raise JobNotFound(
            f"no job {job.id!r} in queue {job.queue!r}: never enqueued there, or its result "
            "expired (result_ttl_s)"
        )
    return outcome(job.id, *found)


def _result(args: argparse.Namespace) -> int:
    app = _load(args)

    async def body(app: RqStream) -> int:
        job = app.job(args.job_id, args.queue or await _find_queue(app, args.job_id))
        try:
            if args.wait is None:
                value = await _result_now(app, job)
            else:
                value = await job.result(timeout_s=args.wait)
        except TaskFailed as exc:
            print(f"rq-stream: {exc}", file=sys.stderr)
            if exc.traceback:
                print(exc.traceback.rstrip(), file=sys.stderr)
            return EXIT_FAILED
        except ResultTimeout as exc:
            print(f"rq-stream: {exc}", file=sys.stderr)
            return EXIT_NOT_FINISHED
        print(_to_json(value), flush=True)
        return 0

    return _run_with(app, body)


# ---------------------------------------------------------------------- dead letters
def _dlq(args: argparse.Namespace) -> int:
    app = _load(args)
    action: Callable[[DeadLetters, argparse.Namespace], Awaitable[int]] = args.action

    async def body(app: RqStream) -> int:
        return await action(app.dead_letters(args.queue), args)

    return _run_with(app, body)


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


async def _dlq_list(dlq: DeadLetters, args: argparse.Namespace) -> int:
    letters = await dlq.list(limit=args.limit, newest_first=args.newest)
    if args.json:
        print(_to_json([_letter_dict(x, full=False) for x in letters]))
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
        print(admin.plain_table(headers, rows))
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


async def _dlq_show(dlq: DeadLetters, args: argparse.Namespace) -> int:
    letter = await _find_letter(dlq, args.id)
    info = _letter_dict(letter, full=True)
    if args.json:
        print(_to_json(info))
        return 0
    tb = info.pop("traceback")
    for key, value in info.items():
        print(f"{key + ':':<11} {_to_json(value) if key in ('args', 'kwargs') else value}")
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


async def _dlq_replay(dlq: DeadLetters, args: argparse.Namespace) -> int:
    return await _dlq_change(dlq, args, "replay", _replay_ids)


async def _dlq_purge(dlq: DeadLetters, args: argparse.Namespace) -> int:
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


# ---------------------------------------------------------------------- parser
def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _whole(1)
_non_negative_int = _whole(0)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _log_level(text: str) -> str:
    if text.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise argparse.ArgumentTypeError(f"unknown log level {text!r}")
    return text.upper()


def _add_worker(sub: Any, common: argparse.ArgumentParser) -> None:
    w = sub.add_parser("worker", parents=[common], help="run workers for an application")
    w.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    w.add_argument(
        "--processes",
        "-p",
        type=_positive_int,
        metavar="N",
        default=1,
        help="worker processes, supervised and restarted if they die (default 1)",
    )
    w.add_argument(
        "--concurrency",
        "-c",
        type=_positive_int,
        metavar="M",
        default=10,
        help="jobs run at once by each process (default 10)",
    )
    w.add_argument(
        "--prefetch",
        type=_non_negative_int,
        metavar="N",
        default=None,
        help="jobs each process takes (and starts, counting an attempt) beyond its free "
        "executors. Default: as many as would start within 20 ms at the jobs' average run "
        "time, up to --concurrency (many for quick jobs, none for long ones, so a worker never "
        "holds long jobs another could start); 0 takes only what it can run at once",
    )
    w.add_argument(
        "--queues", "-q", metavar="A,B", help="comma-separated queues (default: all of the app's)"
    )
    w.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    w.add_argument(
        "--grace",
        type=_non_negative,
        metavar="S",
        default=25.0,
        help="seconds running jobs get to finish at stop (default 25)",
    )
    w.add_argument(
        "--lease",
        type=_positive,
        metavar="S",
        default=None,
        help="seconds a job may go without its worker's renewal before another worker takes it "
        "over (default: the app's lease_s, 30)",
    )
    w.add_argument(
        "--restart-delay",
        type=_non_negative,
        metavar="S",
        default=1.0,
        help="first delay before restarting a dead process; doubles (default 1)",
    )
    w.add_argument("--log-format", choices=["console", "json"], default="console")
    w.add_argument("--log-level", type=_log_level, default="INFO", metavar="LEVEL")
    w.set_defaults(func=_worker)


def _add_info(sub: Any, common: argparse.ArgumentParser) -> None:
    i = sub.add_parser("info", parents=[common], help="queues, workers and throughput")
    i.add_argument("app", nargs="?", help="MODULE:ATTRIBUTE (or give --url and --prefix)")
    i.add_argument("--prefix", help="key prefix, without MODULE:APP (default rqs)")
    i.add_argument("--json", action="store_true", help="JSON for scripts")
    i.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    i.add_argument("--interval", type=_non_negative, default=1.0, help="seconds between refreshes")
    i.set_defaults(func=_info)


def _add_jobs(sub: Any, common: argparse.ArgumentParser) -> None:
    e = sub.add_parser("enqueue", parents=[common], help="enqueue a job; prints its id")
    e.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    e.add_argument("task", help="task name (the full name, or its last part if unambiguous)")
    e.add_argument("--args", default="[]", help="positional arguments as a JSON array")
    e.add_argument("--kwargs", default="{}", help="keyword arguments as a JSON object")
    e.add_argument("--queue", help="override the task's queue")
    e.add_argument("--delay", type=_non_negative, help="run after this many seconds")
    e.add_argument("--job-id", help="your own job id (enqueueing it again is a no-op)")
    e.set_defaults(func=_enqueue)

    r = sub.add_parser("result", parents=[common], help="print a job's result as JSON")
    r.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    r.add_argument("job_id")
    r.add_argument("--queue", help="the job's queue (default: looked up)")
    r.add_argument("--wait", type=_non_negative, help="wait up to this many seconds for it")
    r.set_defaults(func=_result)


def _add_dlq(sub: Any, common: argparse.ArgumentParser) -> None:
    d = sub.add_parser("dlq", parents=[common], help="list, show, replay or purge dead letters")
    d.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    d.set_defaults(func=_dlq)
    shared = argparse.ArgumentParser(add_help=False, parents=[common])
    shared.add_argument("--queue", help="the queue (default: the app's default queue)")
    actions = d.add_subparsers(dest="dlq_action", required=True)
    ls = actions.add_parser("list", parents=[shared], help="the oldest dead letters first")
    ls.add_argument("--limit", type=_positive_int, default=20)
    ls.add_argument("--newest", action="store_true", help="newest first")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(action=_dlq_list)
    show = actions.add_parser("show", parents=[shared], help="one dead letter in full")
    show.add_argument("id", help="dead-letter id, job id, or the start of a job id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(action=_dlq_show)
    for name, fn in (("replay", _dlq_replay), ("purge", _dlq_purge)):
        p = actions.add_parser(name, parents=[shared], help=f"{name} dead letters")
        p.add_argument("ids", nargs="*", help="dead-letter ids, job ids or starts of job ids")
        p.add_argument("--all", action="store_true", help="every dead letter of the queue")
        p.add_argument("--task", help="only dead letters of this task")
        p.add_argument("--error-type", help="only dead letters with this exception type")
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.set_defaults(action=fn)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rq-stream", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks")  # fmt: skip
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help="Redis URL (default: the app's, or $REDIS_URL)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    _add_worker(sub, common)
    _add_info(sub, common)
    _add_jobs(sub, common)
    _add_dlq(sub, common)
    parser.set_defaults(url=None)
    return parser


# ---------------------------------------------------------------------- main
def _leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups raised by task groups; or just ``exc``."""
    inner: Sequence[BaseException] | None = getattr(exc, "exceptions", None)
    if not inner:
        return [exc]
    return [leaf for e in inner for leaf in _leaves(e)]


def _report(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    leaves = _leaves(exc)
    exc = leaves[0]
    if isinstance(exc, CliError):
        message, code = str(exc), exc.exit_code
    elif isinstance(exc, RqStreamError):
        message, code = str(exc), EXIT_USAGE
    elif isinstance(exc, (rex.RedisError, OSError)):
        message, code = f"Redis command failed: {type(exc).__name__}: {exc}", EXIT_USAGE
    elif isinstance(exc, KeyboardInterrupt):
        return 130
    else:
        message = f"unexpected error: {type(exc).__name__}: {exc}"
        if len(leaves) > 1:
            message += f" (and {len(leaves) - 1} more)"
        code = EXIT_FAILED
        if not debug:
            message += " (run with --debug for the traceback)"
    print(f"rq-stream: error: {message}", file=sys.stderr)
    return code


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (Exception, KeyboardInterrupt) as exc:
        return _report(exc, args.debug)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
