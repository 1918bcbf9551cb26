"""``python -m rq_stream.scripts NAME``: print one Lua script with its includes resolved (e.g.
``enqueue``, for a producer in another language that runs it with EVAL; its header lists KEYS
and ARGV)."""

from __future__ import annotations

import sys

from rq_stream.scripts import source


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rq_stream.scripts NAME (e.g. enqueue)", file=sys.stderr)
        return 2
    sys.stdout.write(source(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
