"""Middleware under ``rq-stream worker --processes 2`` with one child SIGKILLed mid-run: hook
counts (written to Redis by tests/apps/middleware_app.py) are exact for the jobs the killed
child never touched, and at-least-once for the others; no job is lost."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from redis import Redis

from rq_stream import RqStream
from rq_stream.keys import AppKeys

from .test_supervisor import Supervised
from .test_supervisor import supervise as supervise

APP = "tests.apps.middleware_app:app"
N, FLAKY, DOOMED = 300, 15, 4


def counts(r: Redis, prefix: str, hook: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.hgetall(f"{prefix}:hooks:{hook}").items()}


async def enqueue(redis_url: str, prefix: str) -> tuple[list[str], set[str], list[str]]:
    producer = RqStream(redis_url, prefix=prefix)
    work = producer.task(name="work")(lambda i, flaky: None)
    doomed = producer.task(name="doomed")(lambda i: None)
    async with producer:
        jobs = await producer.enqueue_many([work.call(i, i % 20 == 0) for i in range(N)])
        dead = await producer.enqueue_many([doomed.call(i) for i in range(DOOMED)])
    flaky = {j.id for i, j in enumerate(jobs) if i % 20 == 0}
    return [j.id for j in jobs], flaky, [j.id for j in dead]


def wait_until(predicate: Callable[[], bool], timeout: float, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, log()
        time.sleep(0.05)


def run_killing_one_child(
    supervise: Callable[..., Supervised], app: str, r: Redis, prefix: str, jobs: list[str]
) -> tuple[Supervised, int]:
    """``rq-stream worker APP --processes 2``; SIGKILL a child once 60 jobs succeeded, wait
    until every job in ``jobs`` finished, SIGTERM the supervisor. Returns it and the victim."""
    keys = AppKeys(prefix).queue("default")
    s = supervise(app, "--processes", "2", "--concurrency", "4", "--restart-delay", "0.1")
    s.wait_log("worker started", count=2)
    wait_until(lambda: r.hlen(f"{prefix}:hooks:on_success") >= 60, 30, lambda: s.log)
    victim = min(s.wait_children(lambda pids: len(pids) == 2))
    os.kill(victim, signal.SIGKILL)
    s.wait_log("worker process died; restarting it")

    def finished() -> bool:
        return {r.hget(keys.job(j), "s") for j in jobs} <= {b"succeeded", b"failed"}

    wait_until(finished, 60, lambda: s.log)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(30) == 0, s.log
    return s, victim


def check_hook_counts(
    r: Redis, prefix: str, work: list[str], flaky: set[str], dead: list[str], victim: int
) -> dict[str, dict[str, int]]:
    """Nothing lost, worker hooks once per process (never a stop for the killed one), job
    hooks exact for the jobs the killed child never touched and at least once for the others.
    Returns each job's expected on_start count (its attempts) for the untouched ones."""
    keys = AppKeys(prefix).queue("default")
    assert {r.hget(keys.job(j), "s") for j in work} == {b"succeeded"}
    assert {r.hget(keys.job(j), "s") for j in dead} == {b"failed"}
    assert r.xlen(keys.dead) == len(dead)
    hooks = {h: counts(r, prefix, h) for h in ("on_start", "on_success", "on_failure",
                                               "on_retry", "on_dead_letter")}  # fmt: skip
    started = counts(r, prefix, "on_worker_start")
    stopped = counts(r, prefix, "on_worker_stop")
    assert len(started) == 3 and str(victim) in started  # two children and the restarted one
    assert set(stopped) == set(started) - {str(victim)}  # the killed one never stopped
    assert set(started.values()) == set(stopped.values()) == {1}

    touched = {j for j in work + dead if str(victim).encode() in r.smembers(f"{prefix}:pids:{j}")}
    assert touched, "the killed child had run no job: the kill came too late to test anything"
    expected: dict[str, dict[str, int]] = {}
    for j in work + dead:
        got = {h: c.get(j, 0) for h, c in hooks.items()}
        if j in touched:  # at least once; never an outcome without a start
            assert got["on_start"] >= got["on_success"] + got["on_failure"], (j, got)
            assert got["on_failure" if j in dead else "on_success"] >= 1, (j, got)
            continue
        if j in dead:
            want = dict(on_start=1, on_success=0, on_failure=1, on_retry=0, on_dead_letter=1)
        elif j in flaky:
            want = dict(on_start=2, on_success=1, on_failure=1, on_retry=1, on_dead_letter=0)
        else:
            want = dict(on_start=1, on_success=1, on_failure=0, on_retry=0, on_dead_letter=0)
        assert got == want, (j, got)
        expected[j] = want
    return expected


async def test_hook_counts_survive_a_sigkilled_child(
    supervise: Callable[..., Supervised], redis_url: str, prefix: str
) -> None:
    work, flaky, dead = await enqueue(redis_url, prefix)
    assert len(flaky) == FLAKY
    r = Redis.from_url(redis_url)
    s, victim = run_killing_one_child(supervise, APP, r, prefix, work + dead)
    check_hook_counts(r, prefix, work, flaky, dead, victim)
    assert "middleware hook raised" not in s.log
