"""Serializers: how an application turns job arguments and results into bytes.

``RqStream(serializer=...)`` takes any object with a ``name`` and ``dumps``/``loads``
(:class:`Serializer`). It covers the job payload (the envelope: job id, task name, arguments,
enqueue time, result TTL) and the task's result; rq_stream's own records (failures, worker
heartbeats, cache entries) stay msgpack.

- :class:`MsgpackSerializer` (the default): msgpack with rq_stream's extension types for
  datetime, UUID, Decimal, sets and big integers (see :mod:`rq_stream.codec`).
- :class:`JsonSerializer`: plain JSON (stdlib ``json``), for producers and result readers in
  other languages. It refuses what JSON cannot say (datetime, UUID, Decimal, bytes, sets, NaN):
  pass strings, or add :class:`PydanticSerializer` to rebuild them from type hints.
- :class:`PydanticSerializer`: pydantic models, dataclasses (and anything pydantic validates:
  datetime, UUID, enums, TypedDicts) as arguments and results. It turns them into plain data
  for an inner serializer (JSON by default) at enqueue, and the worker rebuilds each argument
  from the task's type hints, ``job.result()`` the result from its return annotation. Needs
  ``pip install 'rq_stream[pydantic]'``.

Nothing is ever unpickled: rq_stream ships no pickle serializer, and a payload read from Redis
is only ever decoded by the configured serializer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from rq_stream import codec
from rq_stream.errors import ConfigurationError, SerializationError


@runtime_checkable
class Serializer(Protocol):
    """Turns one value into bytes and back. ``dumps`` raises :class:`SerializationError`
    (naming the type it cannot encode); ``loads`` raises anything on bytes it cannot read (the
    worker dead-letters such a payload, naming the serializer)."""

    name: str
    """Short name used in error messages (``"msgpack"``, ``"json"``)."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


@runtime_checkable
class TypedSerializer(Serializer, Protocol):
    """A serializer that rebuilds values from type hints (see :class:`PydanticSerializer`).

    Payloads are written by ``inner`` (its envelope format: a JSON producer can enqueue for a
    typed JSON app): arguments and results pass through ``to_plain`` first; the worker rebuilds
    each annotated argument with ``loader(annotation)``, ``job.result()`` the result."""

    @property
    def inner(self) -> Serializer: ...

    def to_plain(self, value: Any) -> Any:
        """``value`` as data ``inner`` can encode; :class:`SerializationError` if it cannot."""

    def loader(self, annotation: Any) -> Callable[[Any], Any]:
        """A function turning plain data back into an ``annotation`` (raising if it does not
        fit). Called once per annotation; the function is kept."""


class MsgpackSerializer:
    """The default: msgpack with extension types (what :mod:`rq_stream.codec` documents)."""

    name = "msgpack"

    def dumps(self, value: Any) -> bytes:
        return codec.dumps(value)

    def loads(self, data: bytes) -> Any:
        return codec.loads(data)

    def __repr__(self) -> str:
        return "MsgpackSerializer()"


_JSON_HINT = (
    "JSON has no datetime, date, UUID, Decimal, bytes, set or NaN: pass str/int/float/bool/None"
    "/list/dict (e.g. value.isoformat(), str(uuid)), or use PydanticSerializer() to rebuild "
    "them from the task's type hints"
)


def _refuse(obj: object) -> Any:
    raise TypeError(f"{type(obj).__qualname__} is not JSON")


class JsonSerializer:
    """Plain JSON (UTF-8, stdlib ``json``), for producers and readers in other languages.

    Encodes ``None``, ``bool``, ``int``, ``float`` (not NaN or infinity), ``str``, ``list``,
    ``tuple`` (read back as a list) and ``dict``. Object keys are strings in JSON: ``int``,
    ``float``, ``bool`` and ``None`` keys are written as strings (as :func:`json.dumps` does),
    and come back as strings. Anything else is refused with :class:`SerializationError`.
    Integers are exact in Python; JavaScript readers lose precision beyond 2**53.
    """

    name = "json"

    def __init__(self) -> None:
        self._encoder = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_refuse
        )

    def dumps(self, value: Any) -> bytes:
        try:
            return self._encoder.encode(value).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            message = f"cannot encode value with json: {exc}; {_JSON_HINT}"
            raise SerializationError(message) from None

    def loads(self, data: bytes) -> Any:
        return json.loads(data)

    def __repr__(self) -> str:
        return "JsonSerializer()"


class PydanticSerializer:
    """Pydantic models, dataclasses and other typed values as arguments and results.

    ``RqStream(serializer=PydanticSerializer())`` (JSON inside) or
    ``PydanticSerializer(MsgpackSerializer())``. At enqueue every argument becomes plain data
    (``model_dump``-like: JSON mode for JSON, Python mode for msgpack, which keeps datetimes
    native); the worker rebuilds each argument from the task's type hints with pydantic's
    ``TypeAdapter`` (lax mode: ``"2030-01-01T00:00:00Z"`` becomes a datetime), and the job handle
    ``task.enqueue(...)`` returns rebuilds the result from the return annotation. Parameters
    annotated ``Any`` (or not at all) get the plain data. An argument that does not fit its
    annotation dead-letters the job at once (``ArgumentError``); a result that does not fit its
    annotation raises :class:`~rq_stream.errors.EnvelopeError` from ``job.result()``.
    """

    def __init__(self, inner: Serializer | None = None) -> None:
        try:
            from pydantic import TypeAdapter
        except ImportError:  # pragma: no cover - the extra is installed in the tests
            raise ConfigurationError(
                "PydanticSerializer needs pydantic: pip install 'rq_stream[pydantic]'"
            ) from None
        self._adapter = TypeAdapter
        self._inner: Serializer = inner if inner is not None else JsonSerializer()
        self.name = f"pydantic+{self._inner.name}"
        self._mode: Literal["json", "python"] = (
            "python" if isinstance(self._inner, MsgpackSerializer) else "json"
        )
        self._any = TypeAdapter(Any)

    @property
    def inner(self) -> Serializer:
        return self._inner

    def to_plain(self, value: Any) -> Any:
        try:
            return self._any.dump_python(value, mode=self._mode)
        except Exception as exc:  # PydanticSerializationError, or a model's own serializer
            raise SerializationError(f"cannot encode value with {self.name}: {exc}") from None

    def loader(self, annotation: Any) -> Callable[[Any], Any]:
        return self._adapter(annotation).validate_python

    def dumps(self, value: Any) -> bytes:
        return self._inner.dumps(self.to_plain(value))

    def loads(self, data: bytes) -> Any:
        return self._inner.loads(data)

    def __repr__(self) -> str:
        return f"PydanticSerializer({self._inner!r})"


MSGPACK = MsgpackSerializer()
"""The default serializer (one shared instance)."""


def check(serializer: object) -> Serializer:
    """``serializer`` if it has the :class:`Serializer` shape; a clear error if not."""
    if not isinstance(serializer, Serializer) or not isinstance(
        getattr(serializer, "name", None), str
    ):
        raise ConfigurationError(
            f"serializer must have a str `name` and methods dumps(value) -> bytes and "
            f"loads(bytes) -> value (see rq_stream.serializers.Serializer); got {serializer!r}"
        )
    return serializer


__all__ = [
    "MSGPACK",
    "JsonSerializer",
    "MsgpackSerializer",
    "PydanticSerializer",
    "Serializer",
    "TypedSerializer",
]
