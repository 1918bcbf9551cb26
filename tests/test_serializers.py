"""Serializers on a real redis-server, through a real Worker, on both backends: round trips, a
JSON job written with raw Redis commands (as a producer in another language would) and its
result read raw, payloads the app's serializer cannot read, values it cannot encode."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
import pytest_asyncio

from rq_stream import (
    JsonSerializer,
    MsgpackSerializer,
    PydanticSerializer,
    RqStream,
    SerializationError,
    Serializer,
    TaskFailed,
    Worker,
)
from rq_stream.errors import ConfigurationError
from rq_stream.scripts import source
from tests.conftest import ROOT

BACKENDS = ["streams", "lists"]
SERIALIZERS: dict[str, Callable[[], Serializer]] = {
    "msgpack": MsgpackSerializer,
    "json": JsonSerializer,
    "pydantic+json": PydanticSerializer,
    "pydantic+msgpack": lambda: PydanticSerializer(MsgpackSerializer()),
}
VALUE = {"n": 1, "big": 2**70, "pi": 3.5, "s": "é ✓", "list": [1, None, True], "d": {"x": []}}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(url: str, prefix: str, backend: str, serializer: Serializer | None) -> RqStream:
    app = RqStream(url, prefix=prefix, serializer=serializer)
    app.queue("work", backend=backend)  # type: ignore[arg-type]
    return app


@pytest_asyncio.fixture
async def japp(redis_url: str, prefix: str, backend: str) -> AsyncIterator[RqStream]:
    """A JSON app whose queue "work" uses the backend under test."""
    async with make(redis_url, prefix, backend, JsonSerializer()) as app:
        yield app


async def drain(app: RqStream) -> None:
    await Worker(app, queues=["work"], burst=True, handle_signals=False).run()


@pytest.mark.parametrize("name", sorted(SERIALIZERS))
async def test_round_trip_through_a_worker(
    redis_url: str, prefix: str, backend: str, name: str
) -> None:
    async with make(redis_url, prefix, backend, SERIALIZERS[name]()) as app:
        assert app.serializer.name == name

        @app.task(queue="work")
        async def echo(value: Any, *rest: Any, tag: str = "") -> list[Any]:
            return [value, list(rest), tag]

        job = await echo.enqueue(VALUE, 1, "two", tag="t")
        await drain(app)
        assert await job.result(timeout_s=5) == [VALUE, [1, "two"], "t"]


async def test_json_payload_and_result_are_plain_json(japp: RqStream, backend: str) -> None:
    @japp.task(queue="work")
    async def add(x: int, y: int) -> dict[str, int]:
        return {"sum": x + y}

    job = await add.options(job_id="j-1", result_ttl_s=60).enqueue(2, y=3)
    k = japp.keys.queue("work")
    if backend == "streams":
        ((_, fields),) = await japp.redis.xrange(k.stream)
        raw = fields[b"d"]
    else:
        (raw,) = await japp.redis.lrange(k.pending, 0, -1)
    envelope = json.loads(raw)
    assert envelope.pop("enqueued_ms") > 0
    assert envelope == {"v": 1, "job_id": "j-1", "task": add.name, "args": [2],
                        "kwargs": {"y": 3}, "result_ttl_s": 60}  # fmt: skip
    await drain(japp)
    assert json.loads(await japp.redis.hget(k.job("j-1"), "r")) == {"sum": 5}
    assert await job.result(timeout_s=5) == {"sum": 5}


async def _raw_enqueue(app: RqStream, backend: str, job_id: str, envelope: bytes) -> None:
    """What a producer in another language does (README, "Serializers"): MULTI, HSET the job
    record, XADD (streams) or LPUSH (lists) the envelope, EXEC: raw commands, no rq_stream."""
    k = app.keys.queue("work")
    task = json.loads(envelope).get("task", "")
    now_ms = int(time.time() * 1000)
    async with app.redis.pipeline(transaction=True) as tx:  # MULTI ... EXEC
        tx.execute_command("HSET", k.job(job_id), "s", "queued", "n", task, "t", now_ms)
        if backend == "streams":
            tx.execute_command("XADD", k.stream, "*", "j", job_id, "d", envelope)
        else:
            tx.execute_command("LPUSH", k.pending, envelope)
        await tx.execute()


async def test_a_job_written_with_raw_commands_runs_and_its_result_reads_raw(
    japp: RqStream, backend: str
) -> None:
    @japp.task(queue="work")
    async def greet(name: str, punctuation: str = "!") -> str:
        return f"hello {name}{punctuation}"

    envelope = {"v": 1, "job_id": "ext-1", "task": greet.name, "args": ["node"],
                "kwargs": {"punctuation": "?"}}  # fmt: skip
    await _raw_enqueue(japp, backend, "ext-1", json.dumps(envelope).encode())
    await drain(japp)
    k = japp.keys.queue("work")
    status, result = await japp.redis.execute_command("HMGET", k.job("ext-1"), "s", "r")
    assert (status, json.loads(result)) == (b"succeeded", "hello node?")
    assert await japp.job("ext-1", "work").result(timeout_s=5) == "hello node?"
    assert (await japp.job("ext-1", "work").info()).attempts == 1


async def test_a_producer_in_another_language_can_eval_the_enqueue_script(
    japp: RqStream, backend: str
) -> None:
    """``python -m rq_stream.scripts enqueue`` prints the script; another language EVALs it
    with the KEYS and ARGV its header lists (idempotent by job id, delays, the job record)."""

    @japp.task(queue="work")
    async def double(x: int) -> int:
        return 2 * x

    k = japp.keys.queue("work")
    text = source("enqueue" if backend == "streams" else "list_enqueue")
    backlog = k.stream if backend == "streams" else k.pending
    await japp.backend("work").prepare()
    envelope = json.dumps({"v": 1, "job_id": "ev-1", "task": double.name, "args": [21]})
    argv = [k.wake_channel, "ev-1", double.name, envelope, 0, 0, 0, 0]
    assert await japp.redis.eval(text, 3, backlog, k.delayed, k.job_prefix, *argv) == [1]
    assert await japp.redis.eval(text, 3, backlog, k.delayed, k.job_prefix, *argv) == [0]
    await drain(japp)
    assert json.loads(await japp.redis.hget(k.job("ev-1"), "r")) == 42


async def test_a_msgpack_payload_reaching_a_json_app_is_dead_lettered_by_name(
    japp: RqStream, redis_url: str, prefix: str, backend: str
) -> None:
    @japp.task(queue="work")
    async def add(x: int, y: int) -> int:
        return x + y

    before = await add.enqueue(1, 1)
    async with make(redis_url, prefix, backend, None) as msgpack_app:  # the default serializer
        twin = msgpack_app.task(queue="work", name=add.name)(add.fn)
        wrong = await twin.options(job_id="mp-1").enqueue(5, 5)
        after = await add.enqueue(2, 2)
        await drain(japp)
        assert (await before.result(timeout_s=5), await after.result(timeout_s=5)) == (2, 4)
        (letter,) = await japp.dead_letters("work").list()
        assert (letter.job_id, letter.exc_type) == ("mp-1", "EnvelopeError")
        assert "payload is not valid json, the serializer of this app" in letter.message
        assert "it looks like msgpack" in letter.message
        assert letter.args is None  # not JSON: the JSON app cannot show its arguments
        with pytest.raises(TaskFailed, match="payload is not valid json"):
            await wrong.result(timeout_s=5)


async def test_a_json_payload_reaching_a_msgpack_app_is_dead_lettered_by_name(
    japp: RqStream, redis_url: str, prefix: str, backend: str
) -> None:
    async with make(redis_url, prefix, backend, None) as msgpack_app:

        @msgpack_app.task(queue="work", name="t.add")
        async def add(x: int, y: int) -> int:
            return x + y

        japp.task(queue="work", name="t.add")(add.fn)
        await japp.get_task("t.add").enqueue(1, 2)
        fine = await add.enqueue(3, 4)
        await drain(msgpack_app)
        assert await fine.result(timeout_s=5) == 7
        (letter,) = await msgpack_app.dead_letters("work").list()
        assert "payload is not valid msgpack, the serializer of this app" in letter.message
        assert "it looks like JSON" in letter.message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xc1\xff garbage", "payload is not valid json, the serializer of this app"),
        (b"[1, 2]", "json gave a list, not a map with keys v, job_id, task"),
        (b'{"v": 1, "job_id": "bad-1", "task": "x", "argz": []}', "has unknown keys ['argz']"),
        (b'{"v": 1, "job_id": "bad-2"}', "lacks ['task']"),
        (b'{"v": 2, "job_id": "bad-3", "task": "x"}', "envelope version 2 is not supported"),
        (b'{"v": 1, "job_id": "bad-4", "task": "x", "args": {}}', "args must be a list"),
    ],
)
async def test_bad_json_envelopes_are_dead_lettered_and_the_worker_goes_on(
    japp: RqStream, backend: str, payload: bytes, message: str
) -> None:
    @japp.task(queue="work")
    async def one() -> int:
        return 1

    k = japp.keys.queue("work")
    await japp.backend("work").prepare()
    if backend == "streams":
        await japp.redis.xadd(k.stream, {"d": payload})
    else:
        await japp.redis.lpush(k.pending, payload)
    job = await one.enqueue()
    await drain(japp)
    assert await job.result(timeout_s=5) == 1
    (letter,) = await japp.dead_letters("work").list()
    assert letter.exc_type == "EnvelopeError"
    assert "payload could not be decoded" in letter.message
    assert message in letter.message
    assert letter.payload == payload


async def test_json_refuses_what_it_cannot_say_at_enqueue(japp: RqStream) -> None:
    @japp.task(queue="work")
    async def f(x: Any, when: Any = None) -> None:
        return None

    with pytest.raises(SerializationError) as err:
        await f.enqueue(1, when=dt.datetime(2030, 1, 1))
    text = str(err.value)
    assert f"argument 'when' (a datetime) of task {f.name!r} cannot be encoded with json" in text
    assert "datetime is not JSON" in text and "PydanticSerializer" in text
    for value, kind in ((b"x", "bytes"), ({1, 2}, "set"), (float("nan"), "float")):
        with pytest.raises(SerializationError, match=rf"argument 0 \(a {kind}\)"):
            await f.enqueue(value)
    assert await japp.dead_letters("work").count() == 0


async def test_a_result_json_cannot_encode_fails_the_job(japp: RqStream) -> None:
    @japp.task(queue="work", retries=3)
    async def make_set() -> Any:
        return {1, 2}

    job = await make_set.enqueue()
    await drain(japp)
    with pytest.raises(TaskFailed) as err:
        await job.result(timeout_s=5)
    assert err.value.exc_type == "ResultNotSerializable"
    assert "cannot encode value with json: set is not JSON" in err.value.message
    (letter,) = await japp.dead_letters("work").list()
    assert letter.attempts == 1  # never retried
    assert letter.args == [] and letter.task == make_set.name  # decoded with JSON


async def test_a_serializer_must_have_the_protocols_shape() -> None:
    with pytest.raises(ConfigurationError, match="serializer must have a str `name`"):
        RqStream("redis://127.0.0.1:1/0", serializer=object())  # type: ignore[arg-type]
    assert isinstance(RqStream("redis://127.0.0.1:1/0").serializer, MsgpackSerializer)


class Upper:
    """A user's own serializer: JSON, with a different name (the protocol is all it needs)."""

    name = "custom"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


async def test_a_custom_serializer_works_end_to_end(
    redis_url: str, prefix: str, backend: str
) -> None:
    async with make(redis_url, prefix, backend, Upper()) as app:

        @app.task(queue="work")
        async def join(*parts: str) -> str:
            return "-".join(parts)

        @app.task(queue="work")
        async def bad() -> object:
            return object()

        job, failing = await join.enqueue("a", "b"), await bad.enqueue()
        await drain(app)
        assert await job.result(timeout_s=5) == "a-b"
        with pytest.raises(TaskFailed, match="cannot encode value with custom"):
            await failing.result(timeout_s=5)
        with pytest.raises(SerializationError, match="cannot be encoded with custom"):
            await join.enqueue(b"\xff".decode("latin-1"), object())  # type: ignore[arg-type]


def _readme_block(start: str) -> str:
    text = (ROOT / "README.md").read_text()
    begin = text.index(start) + len(start)
    return text[begin : text.index("\nEOF\n", begin)]


async def test_the_readme_redis_cli_producer_works(redis_url: str, prefix: str) -> None:
    """The README's redis-cli lines, run by the real redis-cli: the job runs and its JSON
    result reads back with redis-cli."""
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    commands = _readme_block("redis-cli <<'EOF'\n").replace("rqs:", f"{prefix}:")
    cli = ["redis-cli", "-p", port]
    sent = await anyio.run_process(cli, input=commands.encode())
    assert b"QUEUED" in sent.stdout, sent.stdout
    async with RqStream(redis_url, prefix=prefix, serializer=JsonSerializer()) as app:

        @app.task(name="shop.tasks.charge")
        async def charge(order_id: int, currency: str = "EUR") -> dict[str, Any]:
            return {"order": order_id, "charged": f"10 {currency}"}

        await Worker(app, burst=True, handle_signals=False).run()
        assert await app.known_queues() == ["default"]
    key = f"{prefix}:{{default}}:job:order-17"
    got = await anyio.run_process([*cli, "HGET", key, "r"])
    assert json.loads(got.stdout) == {"order": 17, "charged": "10 EUR"}
