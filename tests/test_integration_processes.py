"""Issue 13's parts together, as an independent check would try them: an app with a lifespan
opening a resource, tasks with ``Depends``, a middleware counting every hook and the JSON
serializer (tests/apps/integration_app.py), run by ``rq-stream worker --processes 2`` with one
child SIGKILLed mid-run. Every hook fired the right number of times (exactly for the jobs the
killed child never touched, at least once for the others), the resource opened and closed once
per process (the killed one never closed), every provider cleanup ran, nothing was lost."""

from __future__ import annotations

import json
from collections.abc import Callable

from redis import Redis

from rq_stream import RqStream
from rq_stream.keys import AppKeys
from rq_stream.serializers import JsonSerializer

from .apps.integration_app import Counting
from .test_middleware_processes import check_hook_counts, run_killing_one_child
from .test_supervisor import Supervised
from .test_supervisor import supervise as supervise

APP = "tests.apps.integration_app:app"
N, DOOMED = 300, 4


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
    s, victim = run_killing_one_child(supervise, APP, r, prefix, work + dead)

    # Nothing lost, hooks exact where the killed child never ran the job (and at least once
    # elsewhere): as in test_middleware_processes.
    expected = check_hook_counts(r, prefix, work, flaky, dead, victim)
    assert "middleware hook raised" not in s.log

    # Results are JSON, readable by any language.
    results = [json.loads(r.hget(keys.job(j), "r") or b"null") for j in work]
    assert sorted(x["order"] for x in results) == list(range(N))

    # The lifespan: opened once in each of the three processes, closed in the two that stopped,
    # around the middleware's worker hooks.
    opened, closed = counts(r, f"{prefix}:life:open"), counts(r, f"{prefix}:life:close")
    assert len(opened) == 3 and str(victim) in opened, opened
    assert set(opened.values()) == {1} and closed == {p: 1 for p in opened if p != str(victim)}
    started, stopped = (counts(r, f"{prefix}:hooks:on_worker_{w}") for w in ("start", "stop"))
    assert started == opened and stopped == closed

    # Every per-job provider's cleanup ran once per attempt, whatever the attempt's outcome.
    cleanups = counts(r, f"{prefix}:cleanups")
    for j, want in expected.items():
        assert cleanups.get(j, 0) == want["on_start"], (j, cleanups.get(j))
