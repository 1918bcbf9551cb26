"""The README's pause and expiry example really runs (workers/pause_expiry_example.py)."""

from __future__ import annotations

from tests.conftest import ROOT
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


def test_the_cli_refuses_a_bad_queue_name_and_resumes_what_is_not_paused(
    redis_url: str, prefix: str
) -> None:
    import subprocess
    import sys

    from tests.test_cli import cli_env

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rq_stream", *args], cwd=ROOT,
                              env=cli_env(redis_url, prefix), capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    bad = cli("pause", "tests.apps.cli_app:app", "two words")
    assert bad.returncode == 2
    assert "QUEUE must be 1 to 200 printable characters without braces" in bad.stderr
    idle = cli("resume", "tests.apps.cli_app:app", "idle")
    assert (idle.returncode, idle.stdout.strip()) == (0, "queue 'idle' was not paused")
