"""What happens to a failed attempt: retry after a delay, or dead-letter."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from rq_stream.backends.base import Failure
from rq_stream.errors import ConcurrencyKeyError, Retry
from rq_stream.options import TaskOptions


class TaskTimeout(Exception):
    """Raised in place of a task that ran longer than its ``timeout_s``."""


class ArgumentError(Exception):
    """The job's arguments do not fit the task's signature (never retried)."""


class ResultNotSerializable(Exception):
    """The task returned a value the app's serializer cannot encode (never retried)."""


_NEVER_RETRY: tuple[type[BaseException], ...] = (
    ArgumentError,
    ResultNotSerializable,
    ConcurrencyKeyError,
)


@dataclass(frozen=True, slots=True)
class Decision:
    retry: bool
    delay_ms: int
    failure: Failure


_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


def describe(exc: BaseException) -> Failure:
    """The failure as stored: type, message, and the traceback without rq_stream's own frames."""
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not f.filename.startswith(_PACKAGE_DIR)]
    )
    tb = "".join(te.format())
    return Failure(type(exc).__qualname__, str(exc), tb[-16_000:])


def decide(options: TaskOptions, attempt: int, exc: BaseException) -> Decision:
    """Retry while retries remain (``Retry`` while attempts remain), else dead-letter."""
    failure = describe(exc)
    if isinstance(exc, Retry):
        if attempt < options.attempts_allowed:
            delay_s = exc.delay_s if exc.delay_s is not None else options.backoff.delay_s(attempt)
            return Decision(True, int(delay_s * 1000), failure)
        return Decision(False, 0, failure)
    never = _NEVER_RETRY + tuple(options.no_retry_on)
    if isinstance(exc, never) or attempt > options.retries or attempt >= options.attempts_allowed:
        return Decision(False, 0, failure)
    return Decision(True, int(options.backoff.delay_s(attempt) * 1000), failure)
