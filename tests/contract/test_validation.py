"""A bad option value is refused at enqueue; one that got past (a payload written by hand, a
bug) is dead-lettered alone: the worker lives on, the rest of its batch is acked once, and no
script leaves a job half-written. Both backends, real worker processes, a real redis-server."""

from __future__ import annotations

import signal
import time
from typing import cast

import anyio
import pytest
from redis import exceptions as rex

from rq_stream import EnqueueError, JobStatus, RqStream
from rq_stream.backends.base import Backend, Completion, Delivery, Failure
from rq_stream.codec import ENVELOPE_VERSION, decode_envelope, dumps
from rq_stream.worker.completer import Completer
from tests.apps import reliability
from tests.conftest import Procs

from .conftest import output, spawn, wait_until


def tapp(url: str, prefix: str, backend: str) -> RqStream:
    """A producer-side twin of tests.apps.reliability with the same task names."""
    app = RqStream(url, prefix=prefix)
    app.queue(reliability.QUEUE, backend=backend)  # type: ignore[arg-type]
    for task in reliability.app.tasks.values():
        app.task(name=task.name, queue=task.settings.queue)(task.fn)
    return app


async def test_options_refuse_a_fractional_result_ttl(qapp: RqStream, backend: str) -> None:
    @qapp.task(queue="work")
    async def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(
        EnqueueError,
        match=r"invalid job option: result_ttl_s must be an int from 0 to 2147483647, "
        r"got 0\.5 \(float\)",
    ):
        await add.options(result_ttl_s=0.5).enqueue(1, 2)  # type: ignore[arg-type]
    with pytest.raises(EnqueueError, match=r"result_ttl_s .*got True \(bool\)"):
        add.options(result_ttl_s=True)
    c = await qapp.backend("work").counts()
    assert (c.backlog, c.delayed) == (0, 0), "nothing may be enqueued"


async def _inject(app: RqStream, backend: str, job_id: str, task: str, ttl: object) -> bytes:
    """Write a job the way enqueue.lua does, past every Python check: the record and the entry."""
    k = app.keys.queue(reliability.QUEUE)
    now = int(time.time() * 1000)
    envelope = dumps([ENVELOPE_VERSION, job_id, task, [-1, 0.0], {}, now, ttl])
    await app.redis.hset(k.job(job_id), mapping={"s": "queued", "n": task, "t": now})
    if backend == "streams":
        await app.redis.xadd(k.stream, {"j": job_id, "d": envelope})
    else:
        await app.redis.lpush(k.pending, envelope)
    return envelope


async def _counts(app: RqStream, kind: str) -> dict[str, int]:
    raw = await app.redis.hgetall(f"{app.prefix}:test:{kind}")
    return {k.decode(): int(v) for k, v in raw.items()}


@pytest.mark.slow
@pytest.mark.parametrize("bad_ttl", [0.5, "x"])
async def test_bad_ttl_in_a_raw_entry_is_dead_lettered_alone(
    redis_url: str, prefix: str, backend: str, procs: Procs, bad_ttl: object
) -> None:
    async with tapp(redis_url, prefix, backend) as app:
        slow = app.tasks[reliability.slow.name]
        good = await app.enqueue_many([slow.call(i, 0) for i in range(250)])
        envelope = await _inject(app, backend, "bad-ttl", slow.name, bad_ttl)
        good += await app.enqueue_many([slow.call(i, 0) for i in range(250, 500)])
        worker = spawn(procs, redis_url, prefix, backend, "--concurrency", "50", lease_s=1.0)
        bad = app.job("bad-ttl", reliability.QUEUE)

        async def finished() -> bool:
            done = await _counts(app, "done")
            return len(done) == 500 and await bad.status() is JobStatus.FAILED

        await wait_until(finished, 60, "500 jobs done and the bad one dead-lettered")
        # Longer than the lease: a job whose completion was never acked would run again now.
        await anyio.sleep(3.0)
        assert worker.poll() is None, output(worker)
        assert [await j.result(timeout_s=5) for j in good] == list(range(500))
        started, done = await _counts(app, "started"), await _counts(app, "done")
        assert started == done == {str(i): 1 for i in range(500)}, "every good job ran once"
        (letter,) = await app.dead_letters(reliability.QUEUE).list()
        assert (letter.job_id, letter.exc_type, letter.payload) == ("bad-ttl", "EnvelopeError",
                                                                    envelope)  # fmt: skip
        assert f"envelope field result_ttl_s must be an int from 0 to 2147483647, got {bad_ttl!r}" \
            in letter.message  # fmt: skip
        c = await app.backend(reliability.QUEUE).counts()
        assert (c.backlog, c.in_flight, c.dead) == (0, 0, 1)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
        log = output(worker)
        assert "job cannot run; moved it to the dead-letter stream" in log
        assert "Traceback" not in log, log


async def _held(app: RqStream, backend: Backend, n: int) -> list[Delivery]:
    """Take and start ``n`` jobs of queue "work" as a worker would."""
    got: list[Delivery] = []
    while len(got) < n:
        got += await backend.fetch(n - len(got), 1000)
    for d in got:
        d.job_id = decode_envelope(d.raw).job_id
        d.max_attempts, d.result_ttl_s = 3, 60
    assert all(a == 1 for a in await backend.start(got))
    for d in got:
        d.started, d.attempt = True, 1
    return got


async def _pending(app: RqStream, backend_kind: str, consumer: str) -> int:
    k = app.keys.queue("work")
    if backend_kind == "streams":
        return int((await app.redis.xpending(k.stream, "rq_stream"))["pending"])
    return int(await app.redis.llen(k.processing(consumer)))


async def test_complete_skips_a_bad_ttl_and_writes_nothing_for_it(
    qapp: RqStream, backend: str
) -> None:
    @qapp.task(queue="work")
    async def noop(i: int) -> int:
        return i

    jobs = await qapp.enqueue_many([noop.call(i) for i in range(6)])
    b = qapp.backend("work", "tester")
    await b.prepare()
    held = await _held(qapp, b, 6)
    by_id = {d.job_id: d for d in held}
    bad = [by_id[jobs[1].id], by_id[jobs[4].id]]
    bad[0].result_ttl_s = cast(int, 0.5)
    bad[1].result_ttl_s = cast(int, "x")
    k = qapp.keys.queue("work")
    before = [await qapp.redis.hgetall(k.job(d.job_id)) for d in bad]

    done, invalid = await b.complete([Completion(d, dumps(d.job_id)) for d in held])

    assert done == 4
    assert [c.delivery.job_id for c in invalid] == [jobs[1].id, jobs[4].id]
    assert [await qapp.redis.hgetall(k.job(d.job_id)) for d in bad] == before, "untouched"
    assert await _pending(qapp, backend, "tester") == 2, "only the bad ones are still held"
    for i in (0, 2, 3, 5):
        assert await jobs[i].status() is JobStatus.SUCCEEDED
        assert await qapp.redis.ttl(k.job(jobs[i].id)) > 0
    for d in bad:
        assert await qapp.job(d.job_id, "work").status() is JobStatus.RUNNING
    # Re-sent with a valid TTL (what nothing half-applied allows): each finishes, once.
    bad[0].result_ttl_s = 30
    assert tuple(await b.complete([Completion(bad[0], b"\xc0")])) == (1, [])
    assert tuple(await b.complete([Completion(bad[0], b"\xc0")])) == (0, [])
    assert await _pending(qapp, backend, "tester") == 1


async def test_completer_dead_letters_a_refused_job_and_acks_the_rest(
    qapp: RqStream, backend: str
) -> None:
    @qapp.task(queue="work")
    async def noop(i: int) -> int:
        return i

    jobs = await qapp.enqueue_many([noop.call(i) for i in range(5)])
    b = qapp.backend("work", "tester")
    await b.prepare()
    held = await _held(qapp, b, 5)
    bad = next(d for d in held if d.job_id == jobs[2].id)
    bad.result_ttl_s = cast(int, 2.5)
    released: list[Completion] = []
    completer = Completer({"work": b}, released.extend, "tester")

    await completer._flush([Completion(d, dumps(7)) for d in held])

    assert sorted(c.delivery.job_id for c in released) == sorted(d.job_id for d in held)
    assert (completer.lost, completer.invalid) == (0, 1)
    assert [await j.status() for j in jobs] == [JobStatus.SUCCEEDED] * 2 + [JobStatus.FAILED] + [
        JobStatus.SUCCEEDED
    ] * 2
    (letter,) = await qapp.dead_letters("work").list()
    assert (letter.job_id, letter.exc_type, letter.worker) == (jobs[2].id, "InvalidJob", "tester")
    assert letter.message.startswith(
        "result_ttl_s=2.5 is not an int from 0 to 2147483647: the task ran, but its result "
        "could not be stored"
    )
    assert await _pending(qapp, backend, "tester") == 0
    assert await qapp.redis.ttl(qapp.keys.queue("work").job(jobs[2].id)) > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("dead_letter", "result_ttl_s must be an integer from 0 to 2147483647, got 0.5"),
        ("retry", "delay_ms must be an integer from 0 to 2147483647000, got nan"),
        ("start", "max_attempts must be an integer from 1 to 2147483647, got 0"),
    ],
)
async def test_finishing_scripts_check_before_writing(
    qapp: RqStream, backend: str, call: str, message: str
) -> None:
    @qapp.task(queue="work")
    async def noop(i: int) -> int:
        return i

    (job,) = await qapp.enqueue_many([noop.call(1)])
    b = qapp.backend("work", "tester")
    await b.prepare()
    (d,) = await _held(qapp, b, 1)
    k = qapp.keys.queue("work")
    before = await qapp.redis.hgetall(k.job(job.id))
    failure = Failure("RuntimeError", "boom")
    with pytest.raises(rex.ResponseError, match=message) as raised:
        if call == "dead_letter":
            d.result_ttl_s = cast(int, 0.5)
            await b.dead_letter(d, failure, "tester")
        elif call == "retry":
            await b.retry(d, cast(int, float("nan")), failure)
        else:
            d.max_attempts = 0
            await b.start([d])
    assert "nothing was written" in str(raised.value)
    assert await qapp.redis.hgetall(k.job(job.id)) == before
    assert await _pending(qapp, backend, "tester") == 1
    assert len(await qapp.dead_letters("work").list()) == 0
