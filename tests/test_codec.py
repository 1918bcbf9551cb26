"""The envelope and value codec: round trips (hypothesis), documented changes, clear errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rq_stream import codec
from rq_stream.errors import EnvelopeError, PayloadTooLarge, SerializationError

fixed_offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=fixed_offsets)
    | st.datetimes()
    | st.dates()
    | st.times()
    | st.timedeltas()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text() | st.integers(), children, max_size=5)
    ),
    max_leaves=20,
)


@given(values)
def test_values_round_trip(value: Any) -> None:
    assert codec.loads(codec.dumps(value)) == value


@given(st.sets(st.integers()), st.frozensets(st.text()))
def test_sets_round_trip(a: set[int], b: frozenset[str]) -> None:
    assert codec.loads(codec.dumps([a, b])) == [a, b]


@given(
    st.text(min_size=1),
    st.text(),
    st.lists(values, max_size=4),
    st.dictionaries(st.text(), values, max_size=4),
)
def test_envelope_round_trip(
    job_id: str, task: str, args: list[Any], kwargs: dict[str, Any]
) -> None:
    env = codec.Envelope(job_id, task, args, kwargs, 1234, None)
    assert codec.decode_envelope(codec.encode_envelope(env, 10**9)) == env


def test_documented_changes() -> None:
    """Tuples come back as lists; aware datetimes keep their offset exactly."""
    tz = dt.timezone(dt.timedelta(hours=5, minutes=30))
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=tz)
    got = codec.loads(codec.dumps({"t": (1, (2, 3)), "when": when, "id": uuid.UUID(int=1)}))
    assert got == {"t": [1, [2, 3]], "when": when, "id": uuid.UUID(int=1)}
    assert got["when"].utcoffset() == tz.utcoffset(None)
    assert codec.loads(codec.dumps(Decimal("1.10"))).as_tuple() == Decimal("1.10").as_tuple()
    assert codec.loads(codec.dumps(2**100)) == 2**100


def test_zoneinfo_datetimes_keep_their_instant_and_offset() -> None:
    from zoneinfo import ZoneInfo

    when = dt.datetime(2007, 11, 4, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    got = codec.loads(codec.dumps(when))
    assert got.timestamp() == when.timestamp()
    assert got.utcoffset() == when.utcoffset()
    assert isinstance(got.tzinfo, dt.timezone)


def test_unsupported_value_is_refused_with_its_type() -> None:
    class Thing:
        pass

    with pytest.raises(SerializationError, match="cannot serialize object of type .*Thing"):
        codec.dumps(Thing())


def test_size_limit() -> None:
    env = codec.Envelope("id", "big", [b"x" * 3000])
    with pytest.raises(
        PayloadTooLarge, match=r"task 'big' encodes to 2\.9 KiB, above the limit of 2\.0 KiB"
    ):
        codec.encode_envelope(env, 2048)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xc1", "payload is not valid msgpack"),
        (b"", "payload is not valid msgpack"),
        (codec.dumps({"a": 1}), "payload is not an rq_stream envelope"),
        (codec.dumps([99, "id", "t", [], {}, 0, None]), "envelope version 99 is not supported"),
        (codec.dumps([1, "id", "t"]), "envelope has 3 fields, expected 7"),
        (codec.dumps([1, 5, "t", [], {}, 0, None]), "envelope field job_id must be a str, got 5"),
        (codec.dumps([1, "id", None, [], {}, 0, None]), "envelope field task must be a str"),
        (codec.dumps([1, "id", "t", {}, {}, 0, None]), "envelope field args must be a list"),
        (codec.dumps([1, "id", "t", [], {1: 2}, 0, None]), "kwargs must be a dict with str keys"),
        (codec.dumps([1, "id", "t", [], {}, 0.5, None]), r"enqueued_ms must be an int .*0\.5"),
        (codec.dumps([1, "id", "t", [], {}, True, None]), "enqueued_ms must be an int"),
        (
            codec.dumps([1, "id", "t", [], {}, 0, 0.5]),
            r"envelope field result_ttl_s must be an int from 0 to 2147483647, got 0\.5 \(float\)",
        ),
        (codec.dumps([1, "id", "t", [], {}, 0, "x"]), r"result_ttl_s .*got 'x' \(str\)"),
        (codec.dumps([1, "id", "t", [], {}, 0, True]), r"result_ttl_s .*got True \(bool\)"),
        (codec.dumps([1, "id", "t", [], {}, 0, -1]), r"result_ttl_s must be >= 0 .*got -1"),
        (codec.dumps([1, "id", "t", [], {}, 0, 2**31]), r"result_ttl_s must be <= 2147483647"),
        (codec.dumps([1, "id", "t", [], {}, 0, 2**70]), r"result_ttl_s must be <= 2147483647"),
    ],
)
def test_undecodable_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        codec.decode_envelope(payload)


@pytest.mark.parametrize("ttl", [None, 0, 1, 2**31 - 1])
def test_valid_result_ttls_decode(ttl: int | None) -> None:
    env = codec.decode_envelope(codec.dumps([1, "id", "t", [], {}, 0, ttl]))
    assert env.result_ttl_s == ttl


@given(st.binary(max_size=200))
def test_decoding_arbitrary_bytes_never_crashes(payload: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        codec.decode_envelope(payload)
