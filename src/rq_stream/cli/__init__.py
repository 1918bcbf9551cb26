"""The ``rq-stream`` command line (usage and exit codes: ``rq_stream.cli.parser``).

One module per subcommand (``worker``, ``info``, ``jobs`` for enqueue/result, ``dead_letters``
for dlq); ``parser`` builds the argument parser; ``common`` holds what they share.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

from rq_stream.cli.common import report
from rq_stream.cli.parser import build_parser

__all__ = ["build_parser", "main", "run"]


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (Exception, KeyboardInterrupt) as exc:
        return report(exc, args.debug)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(argv))
