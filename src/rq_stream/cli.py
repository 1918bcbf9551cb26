"""The ``rq-stream`` command line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import anyio

from .app import RqStream
from .errors import RqStreamError
from .logs import configure_logging


class CliError(Exception):
    """A user mistake: printed as one line on stderr, exit code 2."""


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
        raise CliError(f"{target} is a {type(app).__name__}, not an RqStream application")
    return app


def _worker(args: argparse.Namespace) -> int:
    from .worker import Worker

    configure_logging(args.log_format, args.log_level)
    app = load_app(args.app)
    if args.url:
        app.url = args.url
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    worker = Worker(app, queues=queues, concurrency=args.concurrency, burst=args.burst,
                    grace_s=args.grace)  # fmt: skip
    anyio.run(worker.run)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rq-stream", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run workers for an application")
    w.add_argument("app", help="MODULE:ATTRIBUTE of the RqStream application")
    w.add_argument("--concurrency", "-c", type=int, default=10)
    w.add_argument("--queues", "-q", help="comma-separated queues (default: all of the app's)")
    w.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    w.add_argument("--grace", type=float, default=25.0, help="seconds running jobs get at stop")
    w.add_argument("--url", help="Redis URL (default: the app's, or $REDIS_URL)")
    w.add_argument("--log-format", choices=["console", "json"], default="console")
    w.add_argument("--log-level", default="INFO")
    w.set_defaults(func=_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except (CliError, RqStreamError) as exc:
        if args.debug:
            raise
        print(f"rq-stream: error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
