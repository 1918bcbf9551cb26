"""``rq-stream worker --processes N``: the supervisor as a real subprocess, with real kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from rq_stream.keys import AppKeys
from rq_stream.testing import pid_alive
from rq_stream.worker.supervisor import EXIT_CANNOT_START, RestartBackoff, describe_exit

from .test_cli import APP, ROOT, cli_command, cli_env
from .test_cli import cli as cli


class Supervised:
    """A supervisor subprocess whose stderr is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            cli_command("worker", *args), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.seen_children: set[int] = set()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    @property
    def log(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_log(self, text: str, count: int = 1, timeout: float = 15) -> None:
        with self._changed:
            ok = self._changed.wait_for(lambda: "".join(self.lines).count(text) >= count, timeout)
        assert ok, f"{text!r} x{count} not in the log within {timeout} s:\n{self.log}"

    def children(self) -> set[int]:
        """Live child pids, from /proc (Linux)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            pids = {int(p) for p in path.read_text().split()}
        except FileNotFoundError:
            pids = set()
        self.seen_children |= pids
        return pids

    def wait_children(self, predicate: Callable[[set[int]], bool], timeout: float = 15) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.children()
            if predicate(pids):
                return pids
            time.sleep(0.05)
        raise AssertionError(f"children are {self.children()}\n{self.log}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for pid in self.seen_children:  # children live in their own sessions
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._reader.join(5)


@pytest.fixture
def supervise(redis_url: str, prefix: str) -> Iterator[Callable[..., Supervised]]:
    started: list[Supervised] = []

    def start(*args: str) -> Supervised:
        s = Supervised(list(args), cli_env(redis_url, prefix))
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may linger if nobody reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_backoff_and_exit_descriptions() -> None:
    backoff = RestartBackoff(base_s=0.5, cap_s=3.0)
    assert [backoff.delay_s(n) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert describe_exit(-9) == {"signal": "SIGKILL"}
    assert describe_exit(3) == {"exit_code": 3}


def test_sigkilled_child_is_restarted_then_sigterm_stops_all(
    supervise: Callable[..., Supervised],
) -> None:
    s = supervise(APP, "--processes", "2", "--restart-delay", "0.1", "--log-level", "INFO")
    s.wait_log("worker started", count=2)
    first = s.wait_children(lambda pids: len(pids) == 2)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    s.wait_log("worker process died; restarting it")
    died = next(line for line in s.lines if "worker process died" in line)
    assert f"pid={victim}" in died
    assert "signal=SIGKILL" in died
    assert "restart_in_s=0.1" in died
    later = s.wait_children(lambda pids: len(pids) == 2 and victim not in pids)
    assert len(later & first) == 1
    s.wait_log("worker started", count=3)

    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(20) == 0, s.log
    assert "supervisor stopped: all worker processes have exited" in s.log
    assert s.log.count("worker process exited") == 2
    assert not any(running(pid) for pid in later)


def test_sigterm_drains_running_jobs(
    supervise: Callable[..., Supervised], cli: Callable[..., subprocess.CompletedProcess[str]],
    redis_url: str, prefix: str,
) -> None:  # fmt: skip
    jobs = [cli("enqueue", APP, "slow", "--args", f"[1.5, {i}]").stdout.strip() for i in range(4)]
    s = supervise(APP, "--processes", "2", "--concurrency", "4", "--grace", "10")
    s.wait_log("worker started", count=2)
    keys = AppKeys(prefix).queue("default")
    with Redis.from_url(redis_url) as r:
        deadline = time.monotonic() + 15
        while [r.hget(keys.job(j), "s") for j in jobs] != [b"running"] * 4:
            assert time.monotonic() < deadline, s.log
            time.sleep(0.05)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(20) == 0, s.log
    with Redis.from_url(redis_url) as r:
        assert [r.hget(keys.job(j), "s") for j in jobs] == [b"succeeded"] * 4
    assert cli("result", APP, jobs[3]).stdout == "3\n"
    assert s.log.count("worker stopped") == 2, s.log
    assert "handed_back=0" in s.log
    assert "grace period over" not in s.log


def test_child_that_cannot_import_is_reported_once(supervise: Callable[..., Supervised]) -> None:
    s = supervise("tests.apps.cli_child_fails:app", "--processes", "3", "--restart-delay", "0.05")
    assert s.proc.wait(20) == EXIT_CANNOT_START, s.log
    s._reader.join(5)
    assert s.log.count("cannot import name 'settings'") == 1, s.log
    assert s.log.count("worker process started") == 3  # never restarted
    last = s.log.rstrip().splitlines()[-1]
    assert last == (
        "rq-stream: error: a worker process cannot start: importing 'tests.apps.cli_child_fails' "
        "failed: ImportError: cannot import name 'settings' from 'cli_child_fails_config'"
    )


def test_bad_target_is_reported_before_any_child_starts(
    supervise: Callable[..., Supervised],
) -> None:
    s = supervise("tests.apps.cli_app:nope", "--processes", "4")
    assert s.proc.wait(20) == EXIT_CANNOT_START
    s._reader.join(5)
    assert s.log == "rq-stream: error: module 'tests.apps.cli_app' has no attribute 'nope'\n"


def test_unreachable_redis_is_reported_before_any_child_starts(
    supervise: Callable[..., Supervised],
) -> None:
    s = supervise(APP, "--processes", "2", "--url", "redis://127.0.0.1:1/0")
    assert s.proc.wait(20) == 78
    s._reader.join(5)
    assert s.log.startswith("rq-stream: error: cannot connect to Redis at redis://127.0.0.1:1/0")
    assert s.log.count("\n") == 1


def test_burst_children_finish_and_are_not_restarted(
    supervise: Callable[..., Supervised], cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = cli("enqueue", APP, "add", "--args", "[2, 1]").stdout.strip()
    cli("enqueue", APP, "slow", "--args", "[0.2]")
    s = supervise(APP, "--processes", "2", "--burst", "--log-format", "json")
    assert s.proc.wait(30) == 0, s.log
    s._reader.join(5)
    assert s.log.count("worker process finished (burst)") == 2
    assert "restarting" not in s.log
    assert cli("result", APP, job).stdout == "3\n"
    snapshot = json.loads(cli("info", APP, "--json").stdout)
    default = next(q for q in snapshot["queues"] if q["name"] == "default")
    assert default["totals"]["completed"] == 2


def test_children_stop_when_the_supervisor_is_killed(supervise: Callable[..., Supervised]) -> None:
    s = supervise(APP, "--processes", "2")
    s.wait_log("worker started", count=2)
    children = s.wait_children(lambda pids: len(pids) == 2)
    s.proc.kill()
    s.proc.wait(10)
    deadline = time.monotonic() + 15
    while any(running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in children), s.log
    assert s.log.count("the supervisor process is gone; stopping") == 2
