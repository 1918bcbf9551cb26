"""The README's concurrency-per-key example really runs (workers/keylimit_example.py)."""

from __future__ import annotations

from tests.test_examples import run_module


def test_keylimit_example(redis_url: str, prefix: str) -> None:
    done = run_module("workers.keylimit_example", redis_url, RQ_STREAM_PREFIX=prefix)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "12 exports done",
        "acme: at most 2 at once",
        "globex: at most 2 at once",
        "attempts used: [1]",
    ]
