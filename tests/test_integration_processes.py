"""Issue 13's parts together, as an independent check would try them: an app with a lifespan
opening a resource, tasks with ``Depends``, a middleware counting every hook and the JSON
serializer (tests/apps/integration_app.py), run by ``rq-stream worker --processes 2`` with one
child SIGKILLed mid-run. Every hook fired the right number of times (exactly for the jobs the
killed child never touched, at least once for the others), the resource opened and closed once
per process (the killed one never closed), every provider cleanup ran, nothing was lost."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable

from redis import Redis

from rq_stream import RqStream
from rq_stream.keys import AppKeys
from rq_stream.serializers import JsonSerializer

from .apps.integration_app import Counting
from .test_middleware_processes import wait_until
from .test_supervisor import Supervised
from .test_supervisor import supervise as supervise

APP = "tests.apps.integration_app:app"
N, DOOMED = 300, 4
HOOKS = ("on_start", "on_success", "on_failure", "on_retry", "on_dead_letter")


def counts(r: Redis, key: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.hgetall(key).items()}


async def enqueue(redis_url: str, prefix: str) -> tuple[list[str], set[str], list[str]]:
    """From a producer of its own (the JSON serializer, the counting middleware): plain-data
    arguments only."""
    producer = RqStream(
        redis_url,
        prefix=prefix,
        serializer=JsonSerializer(),
        middleware=[Counting(redis_url, prefix)],
    )
    charge = producer.task(name="charge")(lambda order, flaky: None)
    doomed = producer.task(name="doomed")(lambda order: None)
    async with producer:
        jobs = await producer.enqueue_many([charge.call(i, i % 20 == 0) for i in range(N)])
        dead = await producer.enqueue_many([doomed.call(i) for i in range(DOOMED)])
    flaky = {j.id for i, j in enumerate(jobs) if i % 20 == 0}
    return [j.id for j in jobs], flaky, [j.id for j in dead]


async def test_lifespan_depends_middleware_json_survive_a_sigkilled_child(
    supervise: Callable[..., Supervised], redis_url: str, prefix: str
) -> None:
    work, flaky, dead = await enqueue(redis_url, prefix)
    r = Redis.from_url(redis_url)
    keys = AppKeys(prefix).queue("default")
    assert counts(r, f"{prefix}:hooks:before_enqueue") == dict.fromkeys(work + dead, 1)
    s = supervise(APP, "--processes", "2", "--concurrency", "4", "--restart-delay", "0.1")
    s.wait_log("worker started", count=2)
    wait_until(lambda: r.hlen(f"{prefix}:hooks:on_success") >= 60, 30, lambda: s.log)
    victim = min(s.wait_children(lambda pids: len(pids) == 2))
    os.kill(victim, signal.SIGKILL)
    s.wait_log("worker process died; restarting it")

    def finished() -> bool:
        states = {r.hget(keys.job(j), "s") for j in work + dead}
        return states <= {b"succeeded", b"failed"}

    wait_until(finished, 60, lambda: s.log)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(30) == 0, s.log

    # Nothing lost; results are JSON, readable by any language.
    assert {r.hget(keys.job(j), "s") for j in work} == {b"succeeded"}
    assert {r.hget(keys.job(j), "s") for j in dead} == {b"failed"}
    assert r.xlen(keys.dead) == DOOMED
    results = [json.loads(r.hget(keys.job(j), "r") or b"null") for j in work]
    assert sorted(x["order"] for x in results) == list(range(N))

    # The lifespan: opened once in each of the three processes, closed in the two that stopped.
    opened, closed = counts(r, f"{prefix}:life:open"), counts(r, f"{prefix}:life:close")
    assert len(opened) == 3 and str(victim) in opened, opened
    assert set(opened.values()) == {1} and closed == {p: 1 for p in opened if p != str(victim)}
    started, stopped = (counts(r, f"{prefix}:hooks:on_worker_{w}") for w in ("start", "stop"))
    assert started == opened and stopped == closed

    # Hooks and provider cleanups per job: exact where the killed child never ran the job.
    hooks = {h: counts(r, f"{prefix}:hooks:{h}") for h in HOOKS}
    cleanups = counts(r, f"{prefix}:cleanups")
    touched = {j for j in work + dead if str(victim).encode() in r.smembers(f"{prefix}:pids:{j}")}
    assert touched, "the killed child had run no job: the kill came too late to test anything"
    for j in work + dead:
        got = {h: c.get(j, 0) for h, c in hooks.items()}
        if j in touched:
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
        assert cleanups.get(j, 0) == want["on_start"], (j, cleanups.get(j))
    assert "middleware hook raised" not in s.log
