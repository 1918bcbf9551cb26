"""structlog set-up for workers and the CLI: console for people, JSON for machines.

``configure_logging`` (the ``rq-stream`` command) renders structlog's events and the standard
library's records (redis-py, asyncio, a task's ``logging.getLogger(...)``) alike: in JSON mode
every line on stderr is one JSON object. ``default_to_info`` is what an embedded worker does
when its application configured nothing: INFO and above, not structlog's print-everything
default. ``debug_enabled`` tells, once, whether a logger shows DEBUG events, so per-job events
cost nothing when they are not shown.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

LogFormat = Literal["console", "json"]


def _level(level: str) -> int:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    return numeric


def _shared() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(fmt: LogFormat) -> list[structlog.types.Processor]:
    if fmt == "json":
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]


def _configure_structlog(fmt: LogFormat, numeric: int) -> None:
    structlog.configure(
        processors=[*_shared(), *_renderer(fmt)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),  # one write per line
        cache_logger_on_first_use=True,
    )


def configure_logging(fmt: LogFormat = "console", level: str = "INFO") -> None:
    """Configure structlog and stdlib logging once for a worker process (the CLI's)."""
    numeric = _level(level)
    _configure_structlog(fmt, numeric)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared(), structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_renderer(fmt)],
    )
    handler = logging.StreamHandler(sys.stderr)  # one write per record
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)


def default_to_info() -> None:
    """Unless the application configured structlog itself, show INFO and above (on stderr),
    not structlog's default of every level. Stdlib logging is left as the application set it."""
    if not structlog.is_configured():
        _configure_structlog("console", logging.INFO)


def debug_enabled(logger: Any) -> bool:
    """Whether ``logger`` (a structlog bound logger) shows DEBUG events."""
    for name in ("is_enabled_for", "isEnabledFor"):
        check = getattr(logger, name, None)
        if callable(check):
            return bool(check(logging.DEBUG))
    return True  # a wrapper we cannot ask: assume it shows them
