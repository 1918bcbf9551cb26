"""Static typing test for serializers: run by mypy (``make typecheck``), never executed.

A serializer is anything with the protocol's shape; a typed task's handle carries its model
types; the ``type: ignore[...]`` lines must stay errors (``warn_unused_ignores``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

from rq_stream import (
    Job,
    JsonSerializer,
    MsgpackSerializer,
    PydanticSerializer,
    RqStream,
    Serializer,
)
from rq_stream.serializers import TypedSerializer


class Mine:
    name = "mine"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class NoLoads:
    name = "broken"

    def dumps(self, value: Any) -> bytes:
        return b""


class User(BaseModel):
    name: str


@dataclasses.dataclass
class Greeting:
    text: str


typed = RqStream("redis://127.0.0.1:6379/0", serializer=PydanticSerializer())


@typed.task
async def greet(user: User) -> Greeting:
    return Greeting(f"hi {user.name}")


async def check() -> None:
    for s in (MsgpackSerializer(), JsonSerializer(), PydanticSerializer(), Mine()):
        RqStream("redis://127.0.0.1:6379/0", serializer=s)
    assert_type(typed.serializer, Serializer)
    t: TypedSerializer = PydanticSerializer(MsgpackSerializer())
    assert_type(t.inner, Serializer)
    job = await greet.enqueue(User(name="ada"))
    assert_type(job, Job[Greeting])
    assert_type(await job.result(timeout_s=1), Greeting)

    RqStream("redis://127.0.0.1:6379/0", serializer=NoLoads())  # type: ignore[arg-type]
    RqStream("redis://127.0.0.1:6379/0", serializer="json")  # type: ignore[arg-type]
    await greet.enqueue({"name": "ada"})  # type: ignore[arg-type]
