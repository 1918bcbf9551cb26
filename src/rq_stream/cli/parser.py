"""The ``rq-stream`` command line.

  rq-stream worker MODULE:APP [--processes N] [--concurrency M] [--queues a,b] [--burst]
  rq-stream info [MODULE:APP | --url URL --prefix P] [--json] [--watch]
  rq-stream enqueue MODULE:APP TASK [--args JSON] [--kwargs JSON] [--queue Q] [--delay S]
  rq-stream result MODULE:APP JOB_ID [--queue Q] [--wait S] [--watch]
  rq-stream cancel MODULE:APP JOB_ID [--queue Q]
  rq-stream dlq MODULE:APP list|show|replay|purge [--queue Q] ...
  rq-stream cron MODULE:APP list [--json] | remove NAME
  rq-stream pause|resume MODULE:APP QUEUE

Exit codes: 0 done; 1 the job failed or was cancelled (result), had finished (cancel), the user
declined, or an unexpected error; 2 bad input, an unknown job (cancel) or Redis unreachable; 3
the job has not finished (result); 78 a worker cannot start (bad import or configuration, or
Redis unreachable at start-up).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rq_stream.cli.control import cancel_command
from rq_stream.cli.cron import cron_command
from rq_stream.cli.dead_letters import dlq_command, dlq_list, dlq_purge, dlq_replay, dlq_show
from rq_stream.cli.info import info_command
from rq_stream.cli.jobs import enqueue_command, result_command
from rq_stream.cli.queues import add_parsers as _add_queues
from rq_stream.cli.worker import worker_command


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
    _add_worker_run_options(w)
    _add_metrics_options(w)
    w.set_defaults(func=worker_command)


def _add_metrics_options(w: argparse.ArgumentParser) -> None:
    w.add_argument(
        "--metrics-port",
        type=_positive_int,
        metavar="PORT",
        default=None,
        help="serve Prometheus metrics on this port (needs rq_stream[metrics]); with "
        "--processes N the supervisor serves the sum of its processes",
    )
    w.add_argument(
        "--metrics-host",
        metavar="ADDR",
        default="0.0.0.0",
        help="address the metrics server listens on (default 0.0.0.0)",
    )
    # A supervised child records metrics into the supervisor's directory and serves nothing.
    w.add_argument("--metrics-child", action="store_true", help=argparse.SUPPRESS)


def _add_worker_run_options(w: argparse.ArgumentParser) -> None:
    """Which queues, when to stop, leases, restarts and logging."""
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


def _add_info(sub: Any, common: argparse.ArgumentParser) -> None:
    i = sub.add_parser("info", parents=[common], help="queues, workers and throughput")
    i.add_argument("app", nargs="?", help="MODULE:ATTRIBUTE (or give --url and --prefix)")
    i.add_argument("--prefix", help="key prefix, without MODULE:APP (default rqs)")
    i.add_argument("--json", action="store_true", help="JSON for scripts")
    i.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    i.add_argument("--interval", type=_non_negative, default=1.0, help="seconds between refreshes")
    i.set_defaults(func=info_command)


def _add_jobs(sub: Any, common: argparse.ArgumentParser) -> None:
    e = sub.add_parser("enqueue", parents=[common], help="enqueue a job; prints its id")
    e.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    e.add_argument("task", help="task name (the full name, or its last part if unambiguous)")
    e.add_argument("--args", default="[]", help="positional arguments as a JSON array")
    e.add_argument("--kwargs", default="{}", help="keyword arguments as a JSON object")
    e.add_argument("--queue", help="override the task's queue")
    e.add_argument("--delay", type=_non_negative, help="run after this many seconds")
    e.add_argument("--job-id", help="your own job id (enqueueing it again is a no-op)")
    e.set_defaults(func=enqueue_command)

    r = sub.add_parser("result", parents=[common], help="print a job's result as JSON")
    r.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    r.add_argument("job_id")
    r.add_argument("--queue", help="the job's queue (default: looked up)")
    r.add_argument("--wait", type=_non_negative, help="wait up to this many seconds for it")
    r.add_argument(
        "--watch",
        action="store_true",
        help="show the job's progress as a bar until it ends (--wait: at most S s)",
    )
    r.set_defaults(func=result_command)

    c = sub.add_parser("cancel", parents=[common], help="cancel a queued, delayed or running job")
    c.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    c.add_argument("job_id")
    c.add_argument("--queue", help="the job's queue (default: looked up)")
    c.set_defaults(func=cancel_command)


def _add_dlq(sub: Any, common: argparse.ArgumentParser) -> None:
    d = sub.add_parser("dlq", parents=[common], help="list, show, replay or purge dead letters")
    d.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    d.set_defaults(func=dlq_command)
    shared = argparse.ArgumentParser(add_help=False, parents=[common])
    shared.add_argument("--queue", help="the queue (default: the app's default queue)")
    actions = d.add_subparsers(dest="dlq_action", required=True)
    ls = actions.add_parser("list", parents=[shared], help="the oldest dead letters first")
    ls.add_argument("--limit", type=_positive_int, default=20)
    ls.add_argument("--newest", action="store_true", help="newest first")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(action=dlq_list)
    show = actions.add_parser("show", parents=[shared], help="one dead letter in full")
    show.add_argument("id", help="dead-letter id, job id, or the start of a job id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(action=dlq_show)
    for name, fn in (("replay", dlq_replay), ("purge", dlq_purge)):
        p = actions.add_parser(name, parents=[shared], help=f"{name} dead letters")
        p.add_argument("ids", nargs="*", help="dead-letter ids, job ids or starts of job ids")
        p.add_argument("--all", action="store_true", help="every dead letter of the queue")
        p.add_argument("--task", help="only dead letters of this task")
        p.add_argument("--error-type", help="only dead letters with this exception type")
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.set_defaults(action=fn)


def _add_cron(sub: Any, common: argparse.ArgumentParser) -> None:
    c = sub.add_parser("cron", parents=[common], help="list or remove stored schedules")
    c.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    actions = c.add_subparsers(dest="cron_action", required=True)
    ls = actions.add_parser("list", parents=[common], help="schedules with their next run")
    ls.add_argument("--json", action="store_true", help="JSON for scripts")
    rm = actions.add_parser("remove", parents=[common], help="remove a stored schedule")
    rm.add_argument("name", help="the schedule's name (see cron list)")
    c.set_defaults(func=cron_command)


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
    _add_cron(sub, common)
    _add_queues(sub, common)
    parser.set_defaults(url=None)
    return parser
