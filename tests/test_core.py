from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from rq_stream import JobStatus, RqStream, TaskFailed, Worker
from rq_stream.errors import ConnectionFailed, EnqueueError, PayloadTooLarge, ResultTimeout


def burst(app: RqStream, **kw: object) -> Worker:
    return Worker(app, concurrency=20, burst=True, handle_signals=False, **kw)  # type: ignore[arg-type]


async def test_enqueue_and_result(app: RqStream) -> None:
    @app.task(result_ttl_s=60)
    async def add(x: int, y: int) -> int:
        return x + y

    job = await add.enqueue(1, 2)
    assert await job.status() is JobStatus.QUEUED
    await burst(app).run()
    assert await job.result(timeout_s=5) == 3
    info = await job.info()
    assert info.status is JobStatus.SUCCEEDED
    assert info.attempts == 1
    assert info.task and info.task.endswith("add")


async def test_result_waits_without_worker_then_times_out(app: RqStream) -> None:
    @app.task
    async def noop() -> None:
        return None

    job = await noop.enqueue()
    with pytest.raises(ResultTimeout, match="did not finish within 0.2 s"):
        await job.result(timeout_s=0.2)
    with pytest.raises(TimeoutError):
        await job.result(timeout_s=0.05)


async def test_sync_task_runs_in_thread_and_values_roundtrip(app: RqStream) -> None:
    import threading

    main = threading.get_ident()

    @app.task
    def echo(value: object) -> object:
        assert threading.get_ident() != main
        return value

    value = {
        "when": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc),
        "id": uuid.UUID(int=7),
        "amount": Decimal("10.25"),
        "raw": b"\x00\xff",
        "tuple": (1, 2),
    }
    job = await echo.enqueue(value)
    await burst(app).run()
    got = await job.result(timeout_s=5)
    assert got == {**value, "tuple": [1, 2]}


async def test_failure_raises_task_failed_with_remote_details(app: RqStream) -> None:
    @app.task
    async def boom(n: int) -> int:
        raise ValueError(f"bad value {n}")

    job = await boom.enqueue(7)
    await burst(app).run()
    with pytest.raises(TaskFailed) as info:
        await job.result(timeout_s=5)
    assert info.value.exc_type == "ValueError"
    assert info.value.message == "bad value 7"
    assert "raise ValueError" in info.value.traceback
    assert await job.status() is JobStatus.FAILED


async def test_options_job_id_is_idempotent(app: RqStream) -> None:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    a = await add.options(job_id="order-1").enqueue(1, 2)
    b = await add.options(job_id="order-1").enqueue(5, 5)
    assert a == b
    await burst(app).run()
    assert await a.result(timeout_s=5) == 3


async def test_enqueue_many_one_call(app: RqStream) -> None:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    jobs = await app.enqueue_many([add.call(i, i) for i in range(500)])
    assert len({j.id for j in jobs}) == 500
    await burst(app).run()
    assert [await j.result(timeout_s=5) for j in jobs[:5]] == [0, 2, 4, 6, 8]


async def test_wrong_arguments_rejected_at_enqueue(app: RqStream) -> None:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(EnqueueError, match=r"arguments do not fit task .*add.*missing a required"):
        await add.enqueue(1)  # type: ignore[call-arg]


async def test_payload_limit(make_app: object) -> None:
    app = make_app(max_payload_bytes=1000)  # type: ignore[operator]

    @app.task
    async def store(blob: bytes) -> None:
        return None

    async with app:
        with pytest.raises(
            PayloadTooLarge, match=r"encodes to 2\.\d KiB, above the limit of 1000 bytes"
        ):
            await store.enqueue(b"x" * 2000)


async def test_unserializable_argument(app: RqStream) -> None:
    @app.task
    async def f(x: object) -> None:
        return None

    expected = r"argument 0 \(a object\) of task .* cannot be encoded with msgpack: cannot"
    with pytest.raises(EnqueueError, match=expected):
        await f.enqueue(object())


async def test_bad_url_and_unreachable() -> None:
    with pytest.raises(ConnectionFailed, match="must start with redis://"):
        RqStream("http://localhost:6379")
    app = RqStream("redis://127.0.0.1:1/0")
    with pytest.raises(ConnectionFailed, match="cannot connect to Redis at redis://127.0.0.1:1/0"):
        async with app:
            pass


async def test_job_look_ups_on_an_unreachable_redis_raise_connection_failed() -> None:
    """As enqueue does: a job handle's status, info and result say Redis is out of reach
    (ConnectionFailed, naming the URL), not redis-py's raw ConnectionError."""
    app = RqStream("redis://127.0.0.1:1/0")
    job = app.job("some-id")
    for look_up in (job.status, job.info, lambda: job.result(timeout_s=1)):
        with pytest.raises(ConnectionFailed, match="Redis at redis://127.0.0.1:1/0"):
            await look_up()
    await app.close()


async def test_delayed_job(app: RqStream) -> None:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    job = await add.options(delay_s=0.3).enqueue(2, 2)
    assert await job.status() is JobStatus.SCHEDULED
    await Worker(
        app, concurrency=2, burst=True, handle_signals=False, delayed_max_sleep_s=0.05
    ).run()
    assert await job.result(timeout_s=2) == 4


async def test_stream_deleted_under_a_running_worker_is_recovered(app: RqStream) -> None:
    import anyio

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    first = await add.enqueue(1, 1)
    worker = Worker(app, concurrency=4, handle_signals=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        assert await first.result(timeout_s=5) == 2
        await app.redis.delete(app.keys.queue("default").stream)  # NOGROUP for the reader
        second = await add.enqueue(2, 2)
        assert await second.result(timeout_s=10) == 4
        worker.request_stop()


async def test_bulk_enqueue_keeps_fifo_order_across_chunks(app: RqStream) -> None:
    from rq_stream import codec

    @app.task
    async def noop(i: int) -> None:
        return None

    await app.enqueue_many([noop.call(i) for i in range(2500)])
    entries = await app.redis.xrange(app.keys.queue("default").stream)
    assert [codec.decode_envelope(f[b"d"]).args[0] for _, f in entries] == list(range(2500))


def test_xautoclaim_reply_shapes_of_redis_6_2_and_7() -> None:
    from rq_stream.backends.streams import parse_autoclaim

    fields = {b"d": b"payload"}
    redis7 = [b"0-0", [(b"1-1", fields)], [b"2-2"]]
    redis62 = [b"3-0", [(b"1-1", fields), (None, None)]]
    assert parse_autoclaim(redis7) == ("0-0", [(b"1-1", fields)], ["2-2"])
    assert parse_autoclaim(redis62) == ("3-0", [(b"1-1", fields)], ["?"])


async def test_dead_consumers_are_pruned_only_when_empty_and_gone(app: RqStream) -> None:
    from rq_stream.keys import GROUP

    @app.task
    async def noop(i: int) -> None:
        return None

    await app.enqueue_many([noop.call(i) for i in range(2)])
    k = app.keys.queue("default")
    holder = app.backend("default", consumer="dead-with-work")
    assert len(await holder.fetch(1, 100)) == 1
    for name in ("dead-empty", "alive-empty"):
        await app.redis.xgroup_createconsumer(k.stream, GROUP, name)
    await app.redis.set(app.keys.worker("alive-empty"), b"beat", px=10_000)
    pruner = app.backend("default", consumer="pruner")
    assert await pruner.prune(idle_ms=0) == 1
    names = {c["name"].decode() for c in await app.redis.xinfo_consumers(k.stream, GROUP)}
    assert names == {"dead-with-work", "alive-empty"}


async def test_many_queues_sharing_scarce_slots_all_drain(app: RqStream) -> None:
    """Every queue's fetcher waits for a free slot at once; none may be left waiting forever."""
    import anyio

    queues = [f"q{i}" for i in range(6)]
    jobs = []
    for q in queues:

        @app.task(queue=q, name=f"nap-{q}")
        async def nap(i: int) -> int:
            await anyio.sleep(0.002)
            return i

        jobs += await app.enqueue_many([nap.call(i) for i in range(15)])
    worker = Worker(app, queues=queues, concurrency=1, prefetch=0, burst=True, handle_signals=False)
    with anyio.fail_after(20):
        await worker.run()
    assert worker.stats.completed == len(jobs) == 90


async def test_a_stalled_reader_does_not_start_a_reclaimed_entry(app: RqStream) -> None:
    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    job = await add.enqueue(1, 1)
    slow, fast = app.backend("default", consumer="slow"), app.backend("default", consumer="fast")
    (got,) = await slow.fetch(1, 100)
    got.job_id, got.max_attempts = job.id, 3
    (taken,) = await fast.reclaim(lease_ms=0, count=1)
    taken.job_id, taken.max_attempts = job.id, 3
    assert await fast.start([taken]) == [1]
    assert await slow.start([got]) == [0]  # no longer its entry: not run twice
    assert (await job.info()).attempts == 1


async def test_completions_are_published_only_for_awaited_jobs(app: RqStream) -> None:
    import anyio

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    quiet, awaited = await add.enqueue(1, 1), await add.enqueue(2, 2)
    k = app.keys.queue("default")
    ps = app.redis.pubsub()
    await ps.subscribe(k.done_channel(quiet.id), k.done_channel(awaited.id))
    got: list[int] = []
    async with anyio.create_task_group() as tg:

        async def wait() -> None:
            got.append(await awaited.result(timeout_s=5))

        tg.start_soon(wait)
        while await app.redis.hget(k.job(awaited.id), "wt") is None:
            await anyio.sleep(0.01)
        await burst(app).run()
    assert got == [4] and await quiet.result(timeout_s=1) == 2
    published = []
    with anyio.move_on_after(0.5):
        while True:
            msg = await ps.get_message(timeout=0.1)
            if msg is not None and msg["type"] == "message":
                published.append(msg["channel"].decode())
    assert published == [k.done_channel(awaited.id)]
    await ps.aclose()
