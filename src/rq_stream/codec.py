"""The job envelope and value encoding (msgpack with extension types).

What survives the trip unchanged: None, bool, int (any size), float, str, bytes, list, dict (any
hashable msgpack key), aware and naive ``datetime``, ``date``, ``time``, ``timedelta``, ``UUID``,
``Decimal``, ``set`` and ``frozenset``.

What changes on the way: a ``tuple`` comes back as a ``list``; an aware ``datetime`` in a
``zoneinfo`` zone comes back with a fixed UTC offset (same instant and offset, zone name lost);
a ``bytearray`` or ``memoryview`` comes back as ``bytes``; a dict subclass comes back as a plain
``dict``. Anything else (objects,
dataclasses, enums) is refused at enqueue with :class:`~rq_stream.errors.SerializationError`:
pass plain data and rebuild objects inside the task, or give the app a
:class:`~rq_stream.serializers.PydanticSerializer` (:mod:`rq_stream.serializers`). This is the
default serializer's format; :mod:`rq_stream.payloads` binds these functions for it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from rq_stream import validate
from rq_stream.errors import EnvelopeError, PayloadTooLarge, SerializationError

ENVELOPE_VERSION = 1
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

_MAX_S = validate.MAX_SECONDS

_EXT_DATETIME = 1
_EXT_DATE = 2
_EXT_TIME = 3
_EXT_TIMEDELTA = 4
_EXT_UUID = 5
_EXT_DECIMAL = 6
_EXT_SET = 7
_EXT_FROZENSET = 8
_EXT_BIGINT = 9


def _default(obj: object) -> msgpack.ExtType:
    # datetime must be tested before date (it is a subclass).
    if isinstance(obj, dt.datetime):
        return msgpack.ExtType(_EXT_DATETIME, obj.isoformat().encode())
    if isinstance(obj, dt.date):
        return msgpack.ExtType(_EXT_DATE, obj.isoformat().encode())
    if isinstance(obj, dt.time):
        return msgpack.ExtType(_EXT_TIME, obj.isoformat().encode())
    if isinstance(obj, dt.timedelta):
        return msgpack.ExtType(_EXT_TIMEDELTA, _pack([obj.days, obj.seconds, obj.microseconds]))
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(_EXT_UUID, obj.bytes)
    if isinstance(obj, decimal.Decimal):
        return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode())
    if isinstance(obj, frozenset):
        return msgpack.ExtType(_EXT_FROZENSET, _pack(list(obj)))
    if isinstance(obj, set):
        return msgpack.ExtType(_EXT_SET, _pack(list(obj)))
    if isinstance(obj, int) and not isinstance(obj, bool):
        return msgpack.ExtType(_EXT_BIGINT, str(obj).encode())
    raise TypeError(f"cannot serialize object of type {type(obj).__qualname__}")


def _ext_hook(code: int, data: bytes) -> object:
    if code == _EXT_DATETIME:
        return dt.datetime.fromisoformat(data.decode())
    if code == _EXT_DATE:
        return dt.date.fromisoformat(data.decode())
    if code == _EXT_TIME:
        return dt.time.fromisoformat(data.decode())
    if code == _EXT_TIMEDELTA:
        days, seconds, micros = _unpack(data)
        return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    if code == _EXT_UUID:
        return uuid.UUID(bytes=data)
    if code == _EXT_DECIMAL:
        return decimal.Decimal(data.decode())
    if code == _EXT_SET:
        return set(_unpack(data))
    if code == _EXT_FROZENSET:
        return frozenset(_unpack(data))
    if code == _EXT_BIGINT:
        return int(data.decode())
    return msgpack.ExtType(code, data)


_packer_options: dict[str, Any] = {"default": _default, "use_bin_type": True, "datetime": False}
_unpacker_options: dict[str, Any] = {
    "ext_hook": _ext_hook,
    "raw": False,
    "strict_map_key": False,
    "use_list": True,
    "timestamp": 0,
}


def _pack(value: object) -> bytes:
    return msgpack.packb(value, **_packer_options)  # type: ignore[no-any-return]


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, **_unpacker_options)


def dumps(value: object) -> bytes:
    """Encode one value; raises :class:`SerializationError` with the offending type."""
    try:
        return _pack(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(f"cannot encode value with msgpack: {exc}") from None


def loads(data: bytes) -> Any:
    """Decode one value encoded by :func:`dumps`."""
    return _unpack(data)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What travels through Redis for one job. Immutable: attempts live in Redis, not here."""

    job_id: str
    task: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    enqueued_ms: int = 0
    result_ttl_s: int | None = None


def encode_envelope(env: Envelope, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> bytes:
    """Encode a job; enforce the payload size limit with a message naming the task."""
    return encode_job(
        env.job_id, env.task, env.args, env.kwargs, env.enqueued_ms, env.result_ttl_s, max_bytes
    )


def encode_job(
    job_id: str,
    task: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    enqueued_ms: int,
    result_ttl_s: int | None,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> bytes:
    """:func:`encode_envelope` without building an :class:`Envelope` (the enqueue hot path)."""
    fields = [ENVELOPE_VERSION, job_id, task, list(args), dict(kwargs), enqueued_ms, result_ttl_s]
    try:
        data: bytes = msgpack.packb(fields, **_packer_options)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(
            f"{culprit(dumps, args, kwargs)} of task {task!r} cannot be encoded with msgpack: "
            f"{exc}; pass plain data (str, int, float, bool, None, bytes, list, dict, datetime, "
            "UUID, Decimal, set), or see rq_stream.serializers (PydanticSerializer)"
        ) from None
    if len(data) > max_bytes:  # inline: the enqueue hot path
        check_size(task, len(data), max_bytes)
    return data


def culprit(dumps: Callable[[Any], object], args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """Which argument ``dumps`` refuses ("argument 1 (a Foo)", "argument 'user' (a Foo)"): the
    slow path of a refused enqueue, for its message."""
    named: list[tuple[str, Any]] = [(str(i), a) for i, a in enumerate(args)]
    named += [(repr(k), v) for k, v in kwargs.items()]
    for where, value in named:
        try:
            dumps(value)
        except (SerializationError, TypeError, ValueError, OverflowError):
            return f"argument {where} (a {type(value).__qualname__})"
    return "the arguments"


def check_size(task: str, size: int, max_bytes: int) -> None:
    """Refuse a job that encodes above ``max_bytes`` (:class:`PayloadTooLarge`)."""
    if size > max_bytes:
        raise PayloadTooLarge(
            f"job for task {task!r} encodes to {_human(size)}, above the limit of "
            f"{_human(max_bytes)} (RqStream(max_payload_bytes=...)); store large data "
            "elsewhere and pass a reference"
        )


def decode_envelope(data: bytes, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES * 16) -> Envelope:
    """Decode a payload read from Redis; any problem is an :class:`EnvelopeError`."""
    if len(data) > max_bytes:
        raise EnvelopeError(f"payload of {_human(len(data))} is above the decode limit")
    try:
        fields = msgpack.unpackb(data, **_unpacker_options)
    except Exception as exc:
        hint = (
            "; it looks like JSON: was it written for an app with serializer=JsonSerializer()?"
            if data[:1] == b"{"
            else ""
        )
        raise EnvelopeError(
            f"payload is not valid msgpack, the serializer of this app ({type(exc).__name__}: "
            f"{exc}); first bytes: {data[:32]!r}{hint}"
        ) from None
    if not isinstance(fields, list) or not fields:
        raise EnvelopeError(f"payload is not an rq_stream envelope (got {type(fields).__name__})")
    version = fields[0]
    if version != ENVELOPE_VERSION:
        raise EnvelopeError(
            f"envelope version {version!r} is not supported (this worker reads version "
            f"{ENVELOPE_VERSION}); was it written by a newer rq_stream?"
        )
    try:
        _, job_id, task, args, kwargs, enqueued_ms, result_ttl_s = fields
    except ValueError:
        raise EnvelopeError(f"envelope has {len(fields)} fields, expected 7") from None
    if not (
        type(job_id) is str
        and type(task) is str
        and type(args) is list
        and type(kwargs) is dict
        and type(enqueued_ms) is int
        and (result_ttl_s is None or (type(result_ttl_s) is int and 0 <= result_ttl_s <= _MAX_S))
        and all(type(k) is str for k in kwargs)
    ):
        raise EnvelopeError(_field_problem(job_id, task, args, kwargs, enqueued_ms, result_ttl_s))
    return Envelope(job_id, task, args, kwargs, enqueued_ms, result_ttl_s)


def envelope_of(fields: list[Any]) -> Envelope:
    """An :class:`Envelope` from its seven fields in order, checked as :func:`decode_envelope`
    checks them (which inlines the same checks: it is the worker's hot path). For payloads of
    other serializers (:mod:`rq_stream.payloads`)."""
    version = fields[0]
    if version != ENVELOPE_VERSION:
        raise EnvelopeError(
            f"envelope version {version!r} is not supported (this worker reads version "
            f"{ENVELOPE_VERSION}); was it written by a newer rq_stream?"
        )
    _, job_id, task, args, kwargs, enqueued_ms, result_ttl_s = fields
    if not (
        type(job_id) is str
        and type(task) is str
        and type(args) is list
        and type(kwargs) is dict
        and type(enqueued_ms) is int
        and (result_ttl_s is None or (type(result_ttl_s) is int and 0 <= result_ttl_s <= _MAX_S))
        and all(type(k) is str for k in kwargs)
    ):
        raise EnvelopeError(_field_problem(job_id, task, args, kwargs, enqueued_ms, result_ttl_s))
    return Envelope(job_id, task, args, kwargs, enqueued_ms, result_ttl_s)


def _field_problem(
    job_id: object, task: object, args: object, kwargs: object, enqueued_ms: object,
    result_ttl_s: object,
) -> str:  # fmt: skip
    """Which envelope field is wrong, and its value (the slow path of :func:`decode_envelope`)."""
    problem = validate.first(
        None if isinstance(job_id, str) else f"job_id must be a str, got {job_id!r}",
        None if isinstance(task, str) else f"task must be a str, got {task!r}",
        None if isinstance(args, list) else f"args must be a list, got {type(args).__name__}",
        None if isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs) else
        "kwargs must be a dict with str keys",
        validate.whole("enqueued_ms", enqueued_ms, -(2**63), 2**63 - 1),
        None if result_ttl_s is None else validate.whole("result_ttl_s", result_ttl_s, 0),
    )  # fmt: skip
    return f"envelope field {problem or 'types are wrong'}"


def _human(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"


def peek_job_id(data: bytes) -> str | None:
    """Best-effort job id of a payload that may not decode fully (for dead-lettering): the
    envelope's second field, read without decoding the rest (which may be truncated or
    corrupt)."""
    try:  # the common case, a whole envelope: one C call
        fields = msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=lambda c, d: None)
        if isinstance(fields, list) and len(fields) > 1:
            job_id = fields[1]
            return job_id if isinstance(job_id, str) and job_id else None
    except Exception:
        pass
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1))
    try:
        unpacker.feed(data)
        if unpacker.read_array_header() < 2:
            return None
        unpacker.skip()  # the version
        job_id = unpacker.unpack()
    except Exception:
        return None
    return job_id if isinstance(job_id, str) and job_id else None


__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "ENVELOPE_VERSION",
    "Envelope",
    "decode_envelope",
    "dumps",
    "encode_envelope",
    "envelope_of",
    "loads",
    "peek_job_id",
]
