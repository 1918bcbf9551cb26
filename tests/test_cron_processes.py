"""Cron without a leader, in real processes: three ``rq-stream worker`` processes on a 1-second
schedule (workers/cron_example.py) for 10 s run each tick once, one of them SIGKILLed midway
takes no tick with it; the example and ``rq-stream cron list`` run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from redis import Redis

from rq_stream.keys import AppKeys

from .conftest import ROOT, Procs
from .test_examples import run_module

APP = "workers.cron_example:app"
HEARTBEAT = "workers.cron_example.heartbeat"


def ticks(r: Redis, prefix: str) -> dict[int, bytes | None]:
    """Tick (ms) -> the status of its job, for every tick job of the heartbeat schedule."""
    keys = AppKeys(prefix).queue("default")
    found = {}
    for key in r.scan_iter(match=keys.job(f"cron:{HEARTBEAT}:*")):
        found[int(key.rsplit(b":", 1)[1])] = r.hget(key, "s")
    return found


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rq_stream", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.slow
def test_three_workers_run_each_tick_once_and_a_sigkill_loses_none(
    procs: Procs, redis_url: str, prefix: str
) -> None:
    r = Redis.from_url(redis_url)
    env = {"CRON_LEASE_S": "3"}  # a tick job held by the killed worker is taken over soon
    workers = [procs.worker(APP, redis_url, prefix, "--concurrency", "2", env=env)
               for _ in range(3)]  # fmt: skip
    wait_for(lambda: r.zcard(AppKeys(prefix).workers) == 3, 60, "three workers started")
    start_ms = int(time.time() * 1000)
    time.sleep(5)
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait(10)
    time.sleep(5)
    end_ms = int(time.time() * 1000)
    env = {**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix}
    done = cli(env, "cron", APP, "remove", HEARTBEAT)
    assert done.returncode == 0, done.stdout + done.stderr
    window = sorted(t for t in ticks(r, prefix) if start_ms < t <= end_ms)
    assert 9 <= len(window) <= 11, window
    assert window == list(range(window[0], window[-1] + 1, 1000))  # no tick missing
    wait_for(lambda: set(ticks(r, prefix).values()) == {b"succeeded"}, 60, "tick jobs finished")
    runs = {int(k.rsplit(b":", 1)[1]): int(v)
            for k, v in r.hgetall(f"{prefix}:example:runs").items()}  # fmt: skip
    assert set(runs) == set(ticks(r, prefix))
    assert set(runs.values()) == {1}  # no duplicates
    for p in workers[1:]:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0


def test_the_example_runs_and_cron_list_shows_next_runs(redis_url: str, prefix: str) -> None:
    done = run_module("workers.cron_example", redis_url, RQ_STREAM_PREFIX=prefix)
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    ran, for_ticks = int(first.split()[2]), int(first.split()[5])
    assert ran == for_ticks and 2 <= ran <= 4, done.stdout  # once per tick
    assert "report: 0 7 * * 1-5 (America/New_York), next run" in done.stdout
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "RQ_STREAM_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
    }
    listed = cli(env, "cron", APP, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "3 schedule(s):"
    assert lines[1].split() == ["name", "task", "queue", "cron/every", "tz", "catch", "up",
                                "next", "run", "(UTC)", "last", "run", "(UTC)"]  # fmt: skip
    report = next(line for line in lines if line.startswith("report "))
    when = r"0 7 \* \* 1-5\s+America/New_York\s+latest\s+2\d{3}-\d\d-\d\d 1[12]:00:00\s+-$"
    assert re.search(when, report), report  # 07:00 New York: 11:00 or 12:00 UTC
    as_json = cli(env, "cron", APP, "list", "--json")
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert rows[HEARTBEAT]["when"] == "every 0:00:01" and rows[HEARTBEAT]["last_run"]
    gone = cli(env, "cron", APP, "remove", "nope")
    assert gone.returncode == 1 and "no schedule named 'nope' is stored" in gone.stdout
