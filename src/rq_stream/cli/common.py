"""What the subcommands share: the errors and exit codes, loading ``MODULE:APP``, running a body
against a connected app, JSON output, and turning an exception into one line on stderr."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import importlib
import json
import os
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

import anyio
from redis import exceptions as rex

from rq_stream.client.app import RqStream
from rq_stream.client.task import Task
from rq_stream.errors import RqStreamError, UnknownTask
from rq_stream.worker.supervisor import EXIT_CANNOT_START

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


def load(args: argparse.Namespace) -> RqStream:
    app = load_app(args.app)
    if getattr(args, "url", None):
        app.url = args.url  # re-derives the topology and re-checks wait_replicas
    return app


def run_with(app: RqStream, body: Callable[[RqStream], Awaitable[int]]) -> int:
    """Connect (a clear ConnectionFailed if Redis does not answer), run ``body``, close."""

    async def main() -> int:
        async with app:
            return await body(app)

    return anyio.run(main)


def resolve_task(app: RqStream, name: str) -> Task[Any, Any]:
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


def to_json(value: Any) -> str:
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


def _leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups raised by task groups; or just ``exc``."""
    inner: Sequence[BaseException] | None = getattr(exc, "exceptions", None)
    if not inner:
        return [exc]
    return [leaf for e in inner for leaf in _leaves(e)]


def report(exc: BaseException, debug: bool) -> int:
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
