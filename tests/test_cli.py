"""The ``rq-stream`` command line, run as real subprocesses against the real redis-server."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.cli_app:app"
Cli = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(redis_url: str, prefix: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix,
            "PYTHONPATH": str(ROOT)}  # fmt: skip


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rq_stream", *args]


@pytest.fixture
def cli(redis_url: str, prefix: str) -> Cli:
    """Run ``rq-stream ARGS`` (stdin is not a terminal) and return the finished process."""

    def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cli_command(*args),
            cwd=ROOT,
            env=cli_env(redis_url, prefix),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip()


def info(cli: Cli, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(cli("info", APP, "--json", *args)))
    return data


def queue(snapshot: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [q for q in snapshot["queues"] if q["name"] == name]
    return found


def burst(cli: Cli) -> None:
    ok(cli("worker", APP, "--burst", "--log-level", "WARNING"))


# ---------------------------------------------------------------------- enqueue / result
def test_enqueue_worker_result_roundtrip(cli: Cli) -> None:
    job_id = ok(cli("enqueue", APP, "add", "--args", "[2, 3]"))
    assert len(job_id) == 32
    assert ok(cli("enqueue", APP, "tests.apps.cli_app.report", "--kwargs", '{"day": "mon"}',
                  "--job-id", "r-1")) == "r-1"  # fmt: skip
    burst(cli)
    assert ok(cli("result", APP, job_id)) == "5"
    # The job's queue ("reports") is found without --queue; values become JSON.
    assert json.loads(ok(cli("result", APP, "r-1"))) == {
        "day": "mon",
        "at": "2024-01-02T00:00:00+00:00",
        "raw": "AA==",
    }


def test_enqueue_options(cli: Cli) -> None:
    assert ok(cli("enqueue", APP, "add", "--args", "[1, 1]", "--delay", "60",
                  "--job-id", "later")) == "later"  # fmt: skip
    # The same job id again is not a second job.
    assert ok(cli("enqueue", APP, "add", "--args", "[1, 1]", "--job-id", "later")) == "later"
    ok(cli("enqueue", APP, "add", "--kwargs", '{"x": 1, "y": 2}', "--queue", "other"))
    snapshot = info(cli)
    assert queue(snapshot, "default")["delayed"] == 1
    assert queue(snapshot, "default")["backlog"] == 0
    assert queue(snapshot, "other")["backlog"] == 1


def test_result_failed_and_unfinished(cli: Cli) -> None:
    job_id = ok(cli("enqueue", APP, "fail", "--args", '["boom"]'))
    pending = cli("result", APP, job_id)
    assert pending.returncode == 3
    assert pending.stderr.strip() == f"rq-stream: job {job_id} has not finished: it is queued"
    waited = cli("result", APP, job_id, "--wait", "0.2")
    assert waited.returncode == 3
    assert "did not finish within 0.2 s" in waited.stderr
    burst(cli)
    failed = cli("result", APP, job_id, "--wait", "5")
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.startswith(f"rq-stream: job {job_id} failed: ValueError: boom\n")
    assert "raise ValueError(message)" in failed.stderr  # the task's own traceback


# ---------------------------------------------------------------------- bad input
BAD_INPUT = [
    (["enqueue", "tests.apps.nope:app", "add"],
     "cannot import module 'tests.apps.nope': no such module"),
    (["enqueue", "tests.apps.cli_app", "add"], "expected MODULE:ATTRIBUTE"),
    (["enqueue", "tests.apps.cli_app:nope", "add"],
     "module 'tests.apps.cli_app' has no attribute 'nope'"),
    (["enqueue", "tests.apps.cli_app:not_an_app", "add"],
     "tests.apps.cli_app:not_an_app is not an RqStream application (it is a object)"),
    (["enqueue", "tests.apps.cli_broken:app", "add"],
     "importing 'tests.apps.cli_broken' failed: No module named 'rq_stream_no_such_dependency'"),
    (["enqueue", APP, "nosuch"],
     "no task named 'nosuch' is registered (known: tests.apps.cli_app.add, "),
    (["enqueue", APP, "add", "--args", "[1,"], "--args is not valid JSON (Expecting value"),
    (["enqueue", APP, "add", "--args", '{"x": 1}'], "--args must be a JSON array"),
    (["enqueue", APP, "add", "--kwargs", "[1]"], "--kwargs must be a JSON object"),
    (["enqueue", APP, "add", "--args", "[1]"],
     "arguments do not fit task 'tests.apps.cli_app.add'(x: 'int', y: 'int') -> 'int': "
     "missing a required argument: 'y'"),
    (["enqueue", APP, "add", "--args", "[1, 2]", "--url", "redis://127.0.0.1:1/0"],
     "cannot connect to Redis at redis://127.0.0.1:1/0"),
    (["info", "--url", "redis://127.0.0.1:1/0"], "cannot connect to Redis at redis://127.0.0.1:1/0"),
    (["info", "--url", "http://localhost"], "invalid Redis URL 'http://localhost'"),
    (["info", APP, "--prefix", "x"], "--prefix is for use without MODULE:APP"),
    (["result", APP, "nosuch"], "no job 'nosuch' in queue 'default'"),
    (["dlq", APP, "show", "nosuch"], "no dead letter 'nosuch' in queue 'default'"),
    (["dlq", APP, "replay"], "say which dead letters: give their ids"),
    (["dlq", APP, "purge", "1-1", "--all"], "give dead-letter ids or --all"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_clear_line(cli: Cli, args: list[str], message: str) -> None:
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"rq-stream: error: {message}"), proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_worker_that_cannot_start_exits_78(cli: Cli) -> None:
    proc = cli("worker", "tests.apps.cli_app:nope")
    assert proc.returncode == 78
    assert proc.stderr == "rq-stream: error: module 'tests.apps.cli_app' has no attribute 'nope'\n"


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(cli: Cli, where: str) -> None:
    args = ["enqueue", APP, "add", "--args", "[1]"]
    proc = cli("--debug", *args) if where == "before" else cli(*args, "--debug")
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("rq-stream: error: arguments do not")


def test_usage_errors_come_from_argparse(cli: Cli) -> None:
    proc = cli("worker", APP, "--processes", "0")
    assert proc.returncode == 2
    assert "argument --processes/-p: must be at least 1, got 0" in proc.stderr


# ---------------------------------------------------------------------- info
def test_info_counts_workers_and_throughput(cli: Cli, procs: Any, redis_url: str,
                                            prefix: str) -> None:  # fmt: skip
    ids = [ok(cli("enqueue", APP, "add", "--args", f"[{i}, {i}]")) for i in range(3)]
    ok(cli("enqueue", APP, "fail", "--args", '["no"]'))
    ok(cli("enqueue", APP, "add", "--args", "[0, 0]", "--delay", "60"))
    worker = procs.worker(APP, redis_url, prefix, "--concurrency", "2")
    assert ok(cli("result", APP, ids[-1], "--wait", "15")) == "4"

    snapshot = info(cli)
    assert snapshot["prefix"] == prefix
    default = queue(snapshot, "default")
    assert default["workers"] == 1
    assert default["delayed"] == 1
    assert default["dead"] == 1
    assert default["totals"] == {"completed": 3, "retried": 0, "dead": 1, "expired": 0}
    assert default["paused"] is False
    assert default["throughput"]["last_10m"] == 3
    assert default["throughput"]["last_1m"] >= 3
    assert default["throughput"]["dead_10m"] == 1
    assert [w["pid"] for w in snapshot["workers"]] == [worker.pid]
    assert snapshot["workers"][0]["queues"] == ["bulk", "default", "reports"]

    # The same numbers without the app module, by URL and prefix.
    bare = json.loads(ok(cli("info", "--url", redis_url, "--prefix", prefix, "--json")))
    assert queue(bare, "default")["delayed"] == 1

    table = ok(cli("info", APP))
    lines = table.splitlines()
    assert lines[0].startswith(f"rq_stream at {redis_url}, prefix '{prefix}'")
    header = next(line for line in lines if line.startswith("queue "))
    assert header.split()[:4] == ["queue", "backend", "backlog", "running"]
    row = next(line for line in lines if line.startswith("default "))
    assert row.split()[:7] == ["default", "streams", "0", "0", "1", "1", "1"]
    assert "1 worker(s) alive" in table
    assert str(worker.pid) in table


def test_info_without_the_app_finds_lists_queues(cli: Cli, redis_url: str, prefix: str) -> None:
    ok(cli("enqueue", APP, "bulk", "--args", "[1]"))
    bare = json.loads(ok(cli("info", "--url", redis_url, "--prefix", prefix, "--json")))
    assert queue(bare, "bulk")["backend"] == "lists"
    assert queue(bare, "bulk")["backlog"] == 1


def test_info_empty_prefix(cli: Cli, redis_url: str) -> None:
    out = ok(cli("info", "--url", redis_url, "--prefix", "nothing-here"))
    assert "no queues yet" in out
    assert "0 worker(s) alive" in out


def test_info_watch_refreshes_until_sigint(redis_url: str, prefix: str) -> None:
    proc = subprocess.Popen(
        cli_command("info", APP, "--json", "--watch", "--interval", "0.1"),
        cwd=ROOT,
        env=cli_env(redis_url, prefix),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        snapshots = [json.loads(proc.stdout.readline()) for _ in range(3)]
        assert len({s["at"] for s in snapshots}) == 3
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert err == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------- dead letters
def run_with_tty(args: list[str], env: dict[str, str], answer: str) -> tuple[int, str, str]:
    """Run with a pseudo-terminal as stdin, typing ``answer``."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cli_command(*args), cwd=ROOT, env=env, stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    os.close(slave)
    try:
        os.write(master, answer.encode() + b"\n")
        out, err = proc.communicate(timeout=20)
    finally:
        os.close(master)
    return proc.returncode, out, err


def test_dlq_list_show_replay_purge(cli: Cli, redis_url: str, prefix: str) -> None:
    for i in range(3):
        ok(cli("enqueue", APP, "fail", "--args", f'["boom {i}"]', "--job-id", f"bad-{i}"))
    burst(cli)
    letters = json.loads(ok(cli("dlq", APP, "list", "--json")))
    assert [(x["job_id"], x["error_type"], x["message"]) for x in letters] == [
        (f"bad-{i}", "ValueError", f"boom {i}") for i in range(3)
    ]
    table = ok(cli("dlq", APP, "list"))
    assert table.splitlines()[0] == "3 dead letter(s) in queue 'default':"
    assert "ValueError: boom 1" in table

    shown = ok(cli("dlq", APP, "show", "bad-1"))
    assert 'args:       ["boom 1"]' in shown
    assert "raise ValueError(message)" in shown
    assert json.loads(ok(cli("dlq", APP, "show", letters[0]["id"], "--json")))["job_id"] == "bad-0"

    # More than one job: no terminal and no --yes means no.
    refused = cli("dlq", APP, "replay", "--all")
    assert refused.returncode == 2
    assert refused.stderr == (
        "rq-stream: error: refusing to replay 3 dead letters of queue 'default' without "
        "confirmation: stdin is not a terminal; pass --yes to confirm\n"
    )
    # One job needs no confirmation.
    assert ok(cli("dlq", APP, "replay", "bad-0")) == "replayed 1 dead letter(s) of queue 'default'"
    assert queue(info(cli), "default")["backlog"] == 1
    assert ok(cli("dlq", APP, "replay", "--task", "fail", "--yes")) == (
        "replayed 2 dead letter(s) of queue 'default'"
    )
    burst(cli)
    assert queue(info(cli), "default")["dead"] == 3

    env = cli_env(redis_url, prefix)
    code, out, err = run_with_tty(["dlq", APP, "purge", "--all"], env, "n")
    assert (code, out) == (1, "")
    assert "Purge 3 dead letters of queue 'default'? [y/N] nothing done" in err
    code, out, err = run_with_tty(["dlq", APP, "purge", "--error-type", "ValueError"], env, "y")
    assert (code, out.strip()) == (0, "purged 3 dead letter(s) of queue 'default'"), err
    assert ok(cli("dlq", APP, "list")) == "0 dead letter(s) in queue 'default'"


# ---------------------------------------------------------------------- info rendering (in-process)
def test_throughput_from_minute_buckets() -> None:
    from rq_stream.client.admin import throughput

    now_ms = 1000 * 60_000 + 15_000  # a quarter into minute 1000
    buckets = {"completed": {1000: 5, 999: 40, 991: 7, 990: 100}, "dead": {999: 2, 980: 9}}
    t = throughput(buckets, now_ms)
    assert t.last_1m == 5 + 30  # the current minute plus 3/4 of the previous one
    assert t.last_10m == 5 + 40 + 7  # minute 990 is out of the window
    assert t.per_minute == [7, 0, 0, 0, 0, 0, 0, 0, 40, 5]
    assert (t.dead_10m, t.retried_10m) == (2, 0)


def test_tables_plain_and_rich() -> None:
    import datetime as dt

    from rich.console import Console

    from rq_stream.client.admin import QueueInfo, Snapshot, WorkerInfo
    from rq_stream.client.render import render_plain, render_rich

    worker = WorkerInfo("host:1:abc", "host", 1, ["default"], 10, 5, 7, 0, 3700.0, 1.0, 3, 2)
    snapshot = Snapshot(
        url="redis://h:6379/0",
        prefix="p",
        at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        queues=[QueueInfo("default", "streams", backlog=12_345, dead=2, workers=1)],
        workers=[worker],
    )
    plain = render_plain(snapshot).splitlines()
    assert plain[0] == "rq_stream at redis://h:6379/0, prefix 'p', 2024-01-01 00:00:00 UTC"
    assert plain[3].split() == ["default", "streams", "12,345", "0", "0", "2", "1", "0", "0", "0",
                                "0", "0"]  # fmt: skip
    assert plain[5] == "1 worker(s) alive"
    assert plain[7].split() == ["host:1:abc", "1", "default", "10", "3", "2", "7", "0", "1h01m",
                                "1s", "ago"]  # fmt: skip
    console = Console(record=True, width=150)
    console.print(render_rich(snapshot))
    text = console.export_text()
    assert "12,345" in text
    assert "host:1:abc" in text


def test_worker_lease_flag(cli: Cli) -> None:
    done = cli("worker", APP, "--burst", "--lease", "2")
    assert done.returncode == 0, done.stderr
    assert "lease_ms=" in done.stderr and "2000" in done.stderr.split("lease_ms=")[1][:40]
    bad = cli("worker", APP, "--lease", "0")
    assert bad.returncode == 2
    assert "argument --lease: must be > 0" in bad.stderr
