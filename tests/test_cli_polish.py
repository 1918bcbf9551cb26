"""``rq-stream`` details: a worker that cannot reach Redis exits 78 (EX_CONFIG) with one line;
dead letters are found by the start of their job id (what the demo prints)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.cli_app:app"


def rq_stream(redis_url: str, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "rq_stream", *args], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


@pytest.mark.parametrize("processes", ["1", "2"])
def test_worker_without_redis_exits_78_with_one_line(
    redis_url: str, prefix: str, processes: str
) -> None:
    url = "redis://127.0.0.1:1/0"
    proc = rq_stream(redis_url, prefix, "worker", APP, "--processes", processes, "--url", url)
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith(f"rq-stream: error: cannot connect to Redis at {url}: ")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stdout == ""


def test_dlq_commands_take_the_start_of_a_job_id(redis_url: str, prefix: str) -> None:
    def run(*args: str) -> str:
        proc = rq_stream(redis_url, prefix, *args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    for job_id in ("abc123-one", "abc456-two", "xyz789"):
        run("enqueue", APP, "fail", "--args", f'["{job_id}"]', "--job-id", job_id)
    run("worker", APP, "--burst", "--log-level", "WARNING")

    shown = json.loads(run("dlq", APP, "show", "xyz", "--json"))
    assert (shown["job_id"], shown["message"]) == ("xyz789", "xyz789")
    assert json.loads(run("dlq", APP, "show", "abc4", "--json"))["job_id"] == "abc456-two"

    ambiguous = rq_stream(redis_url, prefix, "dlq", APP, "show", "abc")
    assert ambiguous.returncode == 2
    assert ambiguous.stderr == (
        "rq-stream: error: 'abc' is ambiguous in queue 'default': it begins the job ids "
        "abc123-one, abc456-two; give more of the id\n"
    )
    missing = rq_stream(redis_url, prefix, "dlq", APP, "purge", "nope")
    assert missing.returncode == 2
    assert missing.stderr.startswith("rq-stream: error: no dead letter 'nope' in queue 'default'")

    assert run("dlq", APP, "purge", "abc1").strip() == "purged 1 dead letter(s) of queue 'default'"
    left = json.loads(run("dlq", APP, "list", "--json"))
    assert sorted(x["job_id"] for x in left) == ["abc456-two", "xyz789"]
