"""The README's pause and expiry example really runs (workers/pause_expiry_example.py)."""

from __future__ import annotations

from tests.test_examples import run_module


def test_pause_expiry_example(redis_url: str, prefix: str) -> None:
    done = run_module("workers.pause_expiry_example", redis_url, RQ_STREAM_PREFIX=prefix)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "paused: 0 sent, 3 waiting",
        "sent to user0@example.com",
        "sent to user1@example.com",
        "sent to user2@example.com",
        "expired: not started before its deadline (expires_s / expires_at)",
    ]
