"""PydanticSerializer on a real redis-server through a real Worker, on both backends: pydantic
models and dataclasses as arguments and results, rebuilt from the task's type hints; what does
not fit is dead-lettered (arguments) or raised (results) with a message naming the serializer;
the README example runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pydantic import BaseModel

from rq_stream import (
    JsonSerializer,
    MsgpackSerializer,
    PydanticSerializer,
    RqStream,
    SerializationError,
    Worker,
)
from rq_stream.errors import ConfigurationError, EnvelopeError
from tests.conftest import ROOT


class Item(BaseModel):
    sku: str
    qty: int = 1


class Order(BaseModel):
    id: uuid.UUID
    items: list[Item]
    placed_at: dt.datetime


@dataclasses.dataclass
class Receipt:
    order_id: uuid.UUID
    total_qty: int
    placed_at: dt.datetime
    notes: list[str] = dataclasses.field(default_factory=list)


ORDER = Order(id=uuid.UUID(int=7), items=[Item(sku="tea", qty=2), Item(sku="milk")],
              placed_at=dt.datetime(2030, 1, 1, 9, 30, tzinfo=dt.timezone.utc))  # fmt: skip


class Opaque:
    """A type pydantic has no schema for."""


@pytest.fixture(params=["streams", "lists"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["json", "msgpack"])
def inner(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def tapp(redis_url: str, prefix: str, backend: str, inner: str) -> AsyncIterator[RqStream]:
    serializer = PydanticSerializer(JsonSerializer() if inner == "json" else MsgpackSerializer())
    app = RqStream(redis_url, prefix=prefix, serializer=serializer)
    app.queue("work", backend=backend)  # type: ignore[arg-type]
    async with app:
        yield app


async def drain(app: RqStream) -> None:
    await Worker(app, queues=["work"], burst=True, handle_signals=False).run()


async def test_models_and_dataclasses_go_in_and_come_back(tapp: RqStream) -> None:
    seen: list[Any] = []

    @tapp.task(queue="work")
    async def checkout(order: Order, *, note: Receipt | None = None, raw: Any = None) -> Receipt:
        seen.extend([order, note, raw])
        total = sum(i.qty for i in order.items)
        return Receipt(order.id, total, order.placed_at, [note.notes[0]] if note else [])

    earlier = Receipt(uuid.UUID(int=1), 0, ORDER.placed_at, ["gift"])
    job = await checkout.enqueue(ORDER, note=earlier, raw=Item(sku="x"))
    await drain(tapp)
    receipt = await job.result(timeout_s=5)
    assert receipt == Receipt(ORDER.id, 3, ORDER.placed_at, ["gift"])
    assert isinstance(receipt, Receipt) and isinstance(receipt.order_id, uuid.UUID)
    order, note, raw = seen
    assert order == ORDER and isinstance(order, Order)
    assert note == earlier and isinstance(note, Receipt)
    assert raw == {"sku": "x", "qty": 1}  # annotated Any: the plain data
    plain = await tapp.job(job.id, "work").result(timeout_s=5)  # no task known: plain data
    assert plain["total_qty"] == 3


async def test_a_raw_json_producer_feeds_a_typed_task(
    redis_url: str, prefix: str, backend: str
) -> None:
    app = RqStream(redis_url, prefix=prefix, serializer=PydanticSerializer())
    app.queue("work", backend=backend)  # type: ignore[arg-type]
    async with app:

        @app.task(queue="work")
        async def total(order: Order) -> int:
            return sum(i.qty for i in order.items)

        plain = json.loads(ORDER.model_dump_json())
        envelope = json.dumps({"v": 1, "job_id": "node-1", "task": total.name, "args": [plain]})
        k = app.keys.queue("work")
        await app.backend("work").prepare()
        if backend == "streams":
            await app.redis.xadd(k.stream, {"j": "node-1", "d": envelope})
        else:
            await app.redis.lpush(k.pending, envelope)
        await drain(app)
        assert json.loads(await app.redis.hget(k.job("node-1"), "r")) == 3


async def test_an_argument_that_does_not_fit_its_annotation_is_dead_lettered(
    tapp: RqStream,
) -> None:
    @tapp.task(queue="work", retries=3)
    async def total(order: Order) -> int:
        return len(order.items)

    @tapp.task(queue="work")
    async def fine(x: int) -> int:
        return x

    bad = await total.enqueue({"id": "not-a-uuid", "items": []})  # type: ignore[arg-type]
    ok = await fine.enqueue(5)
    await drain(tapp)
    assert await ok.result(timeout_s=5) == 5
    (letter,) = await tapp.dead_letters("work").list()
    assert (letter.job_id, letter.exc_type) == (bad.id, "ArgumentError")
    assert f"argument 'order' of task {total.name!r} does not fit its annotation Order" in (
        letter.message
    )
    assert f"({tapp.serializer.name})" in letter.message and "id" in letter.message
    assert letter.kwargs == {} and letter.args == [{"id": "not-a-uuid", "items": []}]


async def test_a_result_that_does_not_fit_its_annotation_raises_on_reading(tapp: RqStream) -> None:
    @tapp.task(queue="work")
    async def liar() -> Receipt:
        return {"order_id": "nope"}  # type: ignore[return-value]

    job = await liar.enqueue()
    await drain(tapp)
    with pytest.raises(EnvelopeError) as err:
        await job.result(timeout_s=5)
    assert f"the result of task {liar.name!r} does not fit its return annotation Receipt" in str(
        err.value
    )
    assert tapp.serializer.name in str(err.value)


async def test_what_pydantic_cannot_encode_is_refused_at_enqueue(
    tapp: RqStream, inner: str
) -> None:
    @tapp.task(queue="work")
    async def f(x: Any) -> None:
        return None

    with pytest.raises(SerializationError) as err:
        await f.enqueue(object())
    assert f"argument 0 (a object) of task {f.name!r} cannot be encoded" in str(err.value)
    # JSON mode: pydantic refuses it; Python mode (msgpack) hands it on and msgpack refuses it.
    refused_by = "value with pydantic+json" if inner == "json" else "with msgpack"
    assert f"cannot {'encode' if inner == 'json' else 'be encoded'} {refused_by}" in str(err.value)


async def test_a_return_annotation_pydantic_cannot_build_is_refused_at_enqueue(
    tapp: RqStream,
) -> None:
    @tapp.task(queue="work")
    async def f() -> Opaque:
        return Opaque()

    with pytest.raises(ConfigurationError, match="the return annotation of task .* cannot rebuild"):
        await f.enqueue()

    class Local:  # not resolvable from the function's module: its hints cannot be read
        pass

    @tapp.task(queue="work")
    async def g() -> Local:
        return Local()

    with pytest.raises(ConfigurationError, match="cannot read the type hints of task .*NameError"):
        await g.enqueue()


async def test_unique_typed_jobs_are_deduplicated_by_their_plain_data(tapp: RqStream) -> None:
    @tapp.task(queue="work", unique=True)
    async def once(order: Order) -> str:
        return str(order.id)

    first = await once.enqueue(ORDER)
    second = await once.enqueue(Order.model_validate(ORDER.model_dump()))
    assert first.id == second.id
    await drain(tapp)
    assert await second.result(timeout_s=5) == str(ORDER.id)


def test_the_readme_example_runs(redis_url: str, prefix: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workers.serializers_example"],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix, "PYTHONPATH": "."},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "typed result: Receipt(order_id=1, count=2, placed_at=datetime.datetime(2030" in (
        done.stdout
    )
    assert '{"order_id":2,"count":1,"placed_at":"2030-01-01T09:00:00Z"}' in done.stdout


def test_the_cli_speaks_the_apps_serializer(redis_url: str, prefix: str) -> None:
    """``rq-stream enqueue`` hands JSON arguments to a typed task (rebuilt at the worker),
    ``result`` prints the JSON result, ``dlq show`` decodes the envelope with JSON."""
    env = {**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix, "PYTHONPATH": "."}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "rq_stream", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    app = "workers.serializers_example:app"
    order = {"id": 3, "items": ["a", "b"], "placed_at": "2030-01-01T00:00:00Z"}
    good = cli("enqueue", app, "checkout", "--args", json.dumps([order]))
    bad = cli("enqueue", app, "checkout", "--args", json.dumps([{"id": "x"}]))
    cli("worker", app, "--burst", "--log-level", "WARNING")
    result = json.loads(cli("result", app, good))
    assert result == {"order_id": 3, "count": 2, "placed_at": "2030-01-01T00:00:00Z"}
    shown = json.loads(cli("dlq", app, "show", bad, "--json"))
    assert shown["error_type"] == "ArgumentError" and shown["args"] == [{"id": "x"}]
    assert "does not fit its annotation Order (pydantic+json)" in shown["message"]
