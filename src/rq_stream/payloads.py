"""How one application turns jobs and results into bytes and back: a :class:`Payloads` chosen
once from its serializer (:mod:`rq_stream.serializers`), which the producer, the worker and the
result and dead-letter readers call.

- The default (msgpack) binds :mod:`rq_stream.codec`'s own functions: the hot paths call exactly
  what they called before serializers existed.
- Any other serializer writes the envelope as a map (:data:`ENVELOPE_FIELDS`), e.g. in JSON::

      {"v": 1, "job_id": "order-17", "task": "shop.tasks.charge", "args": [17],
       "kwargs": {"currency": "EUR"}, "enqueued_ms": 1767225600000, "result_ttl_s": null}

  ``v``, ``job_id`` and ``task`` are required; ``args`` defaults to ``[]``, ``kwargs`` to
  ``{}``, ``enqueued_ms`` to 0, ``result_ttl_s`` to null (the task's own). Other keys are
  refused. A result is the return value, encoded by the serializer alone.
- A :class:`~rq_stream.serializers.TypedSerializer` keeps its inner serializer's format; the
  arguments are made plain before they are encoded and rebuilt by :class:`Rebuild` after.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rq_stream import codec
from rq_stream.codec import Envelope
from rq_stream.errors import ConfigurationError, EnvelopeError, SerializationError
from rq_stream.serializers import MSGPACK, MsgpackSerializer, Serializer, TypedSerializer

EncodeJob = Callable[[str, str, Sequence[Any], Mapping[str, Any], int, "int | None", int], bytes]
"""``codec.encode_job``'s shape: job id, task, args, kwargs, enqueued_ms, result_ttl_s, limit."""

ENVELOPE_FIELDS = ("v", "job_id", "task", "args", "kwargs", "enqueued_ms", "result_ttl_s")
"""The keys of an envelope written by a serializer other than msgpack (in this order)."""

_LIMIT = codec.DEFAULT_MAX_PAYLOAD_BYTES
_DEFAULTS: dict[str, Any] = {"args": [], "kwargs": {}, "enqueued_ms": 0, "result_ttl_s": None}
_ENCODE_ERRORS = (SerializationError, TypeError, ValueError, OverflowError, RecursionError)


class RebuildError(Exception):
    """An argument does not fit the task's type hints (the job cannot run: dead-lettered)."""


@dataclass(frozen=True, slots=True)
class Payloads:
    """The encoders and decoders of one application (see the module docstring)."""

    serializer: Serializer
    encode_job: EncodeJob
    decode_envelope: Callable[[bytes], Envelope]
    peek_job_id: Callable[[bytes], str | None]
    """Best-effort job id of a payload that may not decode (lists backend, dead letters)."""
    dumps: Callable[[Any], bytes]
    """A task's result (raises :class:`SerializationError`)."""
    loads: Callable[[bytes], Any]
    """A stored result (plain data)."""
    rebuild: Rebuild | None = None
    """Typed serializers: rebuilds arguments and results from type hints."""
    to_plain: Callable[[Any], Any] | None = None
    """Typed serializers: arguments as plain data (for unique-job digests)."""


DEFAULT = Payloads(
    serializer=MSGPACK,
    encode_job=codec.encode_job,
    decode_envelope=codec.decode_envelope,
    peek_job_id=codec.peek_job_id,
    dumps=codec.dumps,
    loads=codec.loads,
)


def payloads_for(serializer: Serializer) -> Payloads:
    """The payloads of an app using ``serializer`` (decided once, when the app is built)."""
    if type(serializer) is MsgpackSerializer:
        return DEFAULT
    if isinstance(serializer, TypedSerializer):
        return _typed(serializer)
    fmt = MapEnvelope(serializer)
    return Payloads(serializer, fmt.encode_job, fmt.decode_envelope, fmt.peek_job_id,
                    fmt.dumps, fmt.loads)  # fmt: skip


class MapEnvelope:
    """The envelope as a map, encoded by any serializer but msgpack (see the module doc)."""

    def __init__(self, serializer: Serializer) -> None:
        self._s = serializer
        self.name = serializer.name

    def encode_job(
        self, job_id: str, task: str, args: Sequence[Any], kwargs: Mapping[str, Any],
        enqueued_ms: int, result_ttl_s: int | None, max_bytes: int = _LIMIT,
    ) -> bytes:  # fmt: skip
        envelope = {"v": codec.ENVELOPE_VERSION, "job_id": job_id, "task": task,
                    "args": list(args), "kwargs": dict(kwargs), "enqueued_ms": enqueued_ms,
                    "result_ttl_s": result_ttl_s}  # fmt: skip
        try:
            data = self._s.dumps(envelope)
        except _ENCODE_ERRORS as exc:
            where = codec.culprit(self._s.dumps, args, kwargs)
            raise SerializationError(
                f"{where} of task {task!r} cannot be encoded with {self.name}: {exc}"
            ) from None
        if len(data) > max_bytes:
            codec.check_size(task, len(data), max_bytes)
        return data

    def decode_envelope(
        self, data: bytes, max_bytes: int = codec.DEFAULT_MAX_PAYLOAD_BYTES * 16
    ) -> Envelope:
        if len(data) > max_bytes:
            raise EnvelopeError(f"payload of {len(data)} bytes is above the decode limit")
        try:
            value = self._s.loads(data)
        except Exception as exc:
            hint = (
                "; it looks like msgpack: was it written by an app with the default serializer?"
                if data[:1] == b"\x97"
                else ""
            )
            raise EnvelopeError(
                f"payload is not valid {self.name}, the serializer of this app "
                f"({type(exc).__name__}: {exc}); first bytes: {data[:32]!r}{hint}"
            ) from None
        return self._envelope(value)

    def _envelope(self, value: Any) -> Envelope:
        if not isinstance(value, dict):
            raise EnvelopeError(
                f"payload is not an rq_stream envelope: {self.name} gave a "
                f"{type(value).__name__}, not a map with keys {', '.join(ENVELOPE_FIELDS)}"
            )
        unknown = sorted(str(k) for k in value if k not in ENVELOPE_FIELDS)
        missing = [k for k in ENVELOPE_FIELDS[:3] if k not in value]
        if unknown or missing:
            raise EnvelopeError(
                f"envelope ({self.name}) "
                + "; ".join(
                    ([f"has unknown keys {unknown}"] if unknown else [])
                    + ([f"lacks {missing}"] if missing else [])
                )
                + f" (keys: {', '.join(ENVELOPE_FIELDS)})"
            )
        return codec.envelope_of([value.get(k, _DEFAULTS.get(k)) for k in ENVELOPE_FIELDS])

    def peek_job_id(self, data: bytes) -> str | None:
        try:
            value = self._s.loads(data)
        except Exception:
            return codec.peek_job_id(data)  # e.g. a msgpack payload reaching a JSON app
        job_id = value.get("job_id") if isinstance(value, dict) else None
        return job_id if isinstance(job_id, str) and job_id else None

    def dumps(self, value: Any) -> bytes:
        try:
            return self._s.dumps(value)
        except SerializationError:
            raise
        except _ENCODE_ERRORS as exc:
            raise SerializationError(f"cannot encode value with {self.name}: {exc}") from None

    def loads(self, data: bytes) -> Any:
        try:
            return self._s.loads(data)
        except Exception as exc:
            raise EnvelopeError(
                f"a result could not be decoded with {self.name}, the serializer of this app "
                f"({type(exc).__name__}: {exc}); first bytes: {data[:32]!r}"
            ) from None


def _typed(ts: TypedSerializer) -> Payloads:
    base = payloads_for(ts.inner)
    to_plain, encode = ts.to_plain, base.encode_job

    def encode_job(
        job_id: str, task: str, args: Sequence[Any], kwargs: Mapping[str, Any],
        enqueued_ms: int, result_ttl_s: int | None, max_bytes: int = _LIMIT,
    ) -> bytes:  # fmt: skip
        try:
            plain_args, plain_kwargs = to_plain(list(args)), to_plain(dict(kwargs))
        except _ENCODE_ERRORS as exc:
            where = codec.culprit(to_plain, args, kwargs)
            raise SerializationError(f"{where} of task {task!r} cannot be encoded: {exc}") from None
        return encode(job_id, task, plain_args, plain_kwargs, enqueued_ms, result_ttl_s, max_bytes)

    def dumps(value: Any) -> bytes:
        return base.dumps(to_plain(value))

    return Payloads(ts, encode_job, base.decode_envelope, base.peek_job_id, dumps, base.loads,
                    Rebuild(ts, base.loads), to_plain)  # fmt: skip


class _Plan:
    """One task function's parameters and annotations, with a loader per annotation."""

    def __init__(self, ts: TypedSerializer, fn: Callable[..., Any], task: str) -> None:
        self.signature = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as exc:
            raise ConfigurationError(
                f"cannot read the type hints of task {task!r} for {ts.name}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        self.hints = {k: v for k, v in hints.items() if v is not Any}
        self.loaders: dict[str, Callable[[Any], Any]] = {}
        self._ts = ts
        self._task = task

    def loader(self, name: str) -> Callable[[Any], Any] | None:
        found = self.loaders.get(name)
        if found is None and name in self.hints:
            hint = self.hints[name]
            if hint is None or hint is type(None):
                return None
            try:
                found = self.loaders[name] = self._ts.loader(hint)
            except Exception as exc:
                what = "the return annotation" if name == "return" else f"argument {name!r}"
                raise ConfigurationError(
                    f"{what} of task {self._task!r} has a type {self._ts.name} cannot rebuild: "
                    f"{_hint(hint)} ({type(exc).__name__}: {str(exc).splitlines()[0]})"
                ) from None
        return found


def _hint(hint: Any) -> str:
    return getattr(hint, "__qualname__", None) or repr(hint)


class Rebuild:
    """Rebuilds a task's arguments (worker) and result (``job.result()``) from its type hints."""

    def __init__(self, ts: TypedSerializer, loads: Callable[[bytes], Any]) -> None:
        self._ts = ts
        self._loads = loads
        self._plans: dict[Callable[..., Any], _Plan] = {}
        self._readers: dict[Callable[..., Any], Callable[[bytes], Any] | None] = {}

    def _plan(self, fn: Callable[..., Any], task: str) -> _Plan:
        plan = self._plans.get(fn)
        if plan is None:
            plan = self._plans[fn] = _Plan(self._ts, fn, task)
        return plan

    def arguments(self, task: str, fn: Callable[..., Any], env: Envelope) -> Envelope:
        """``env`` with each annotated argument rebuilt; :class:`RebuildError` if one does not
        fit. Arguments that do not bind are left for the worker's own check (ArgumentError)."""
        try:
            plan = self._plan(fn, task)
            bound = plan.signature.bind(*env.args, **env.kwargs)
        except ConfigurationError as exc:
            raise RebuildError(str(exc)) from None
        except TypeError:
            return env
        params = plan.signature.parameters
        for name, value in bound.arguments.items():
            try:
                load = plan.loader(name)
                if load is None:
                    continue
                kind = params[name].kind
                if kind is inspect.Parameter.VAR_POSITIONAL:
                    bound.arguments[name] = tuple(load(v) for v in value)
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    bound.arguments[name] = {k: load(v) for k, v in value.items()}
                else:
                    bound.arguments[name] = load(value)
            except ConfigurationError as exc:
                raise RebuildError(str(exc)) from None
            except Exception as exc:
                raise RebuildError(
                    f"argument {name!r} of task {task!r} does not fit its annotation "
                    f"{_hint(plan.hints[name])} ({self._ts.name}): {exc}"
                ) from None
        return Envelope(env.job_id, env.task, bound.args, bound.kwargs, env.enqueued_ms,
                        env.result_ttl_s)  # fmt: skip

    def result_reader(self, fn: Callable[..., Any], task: str) -> Callable[[bytes], Any] | None:
        """How ``job.result()`` reads this task's result (None: plain data, no annotation)."""
        if fn in self._readers:
            return self._readers[fn]
        load = self._plan(fn, task).loader("return")  # ConfigurationError at enqueue
        reader = None if load is None else self._reader(load, task, fn)
        self._readers[fn] = reader
        return reader

    def _reader(
        self, load: Callable[[Any], Any], task: str, fn: Callable[..., Any]
    ) -> Callable[[bytes], Any]:
        loads, name = self._loads, self._ts.name
        hint = _hint(self._plan(fn, task).hints["return"])

        def read(data: bytes) -> Any:
            value = loads(data)
            try:
                return load(value)
            except Exception as exc:
                raise EnvelopeError(
                    f"the result of task {task!r} does not fit its return annotation {hint} "
                    f"({name}): {exc}"
                ) from None

        return read


__all__ = ["DEFAULT", "ENVELOPE_FIELDS", "MapEnvelope", "Payloads", "Rebuild", "payloads_for"]
