"""Every job option and task setting is checked where it is given, with a message naming it and
the bad value (no Redis needed: nothing is sent)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from rq_stream import Backoff, EnqueueError, Retry, RqStream
from rq_stream.client.task import Call
from rq_stream.errors import ConfigurationError
from rq_stream.scripts import source
from rq_stream.validate import MAX_SECONDS


def make_app() -> RqStream:
    return RqStream("redis://127.0.0.1:1/0", prefix="opts")


NOW = datetime.now(timezone.utc)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"result_ttl_s": 0.5},
            r"result_ttl_s must be an int from 0 to 2147483647, got 0\.5 \(float\)",
        ),
        ({"result_ttl_s": "60"}, r"result_ttl_s must be an int .*got '60' \(str\)"),
        ({"result_ttl_s": True}, r"result_ttl_s must be an int .*got True \(bool\)"),
        ({"result_ttl_s": -1}, r"result_ttl_s must be >= 0 \(an int\), got -1"),
        ({"result_ttl_s": 2**31}, r"result_ttl_s must be <= 2147483647 \(an int\), got 2147483648"),
        ({"delay_s": -1}, r"delay_s must be a number of seconds >= 0, got -1"),
        ({"delay_s": float("nan")}, r"delay_s must be a number of seconds >= 0, got nan"),
        ({"delay_s": float("inf")}, r"delay_s must be at most 2147483647 seconds, got inf"),
        ({"delay_s": "5"}, r"delay_s must be a number of seconds >= 0, got '5' \(str\)"),
        ({"delay_s": True}, r"delay_s must be a number of seconds >= 0, got True \(bool\)"),
        ({"at": NOW.replace(tzinfo=None)}, r"at must be an aware datetime \(with a timezone\)"),
        ({"at": 1700000000}, r"at must be a datetime with a timezone, got 1700000000 \(int\)"),
        ({"delay_s": 1, "at": NOW}, r"give either delay_s or at, not both"),
        ({"job_id": ""}, r"job_id must be 1 to 256 printable characters"),
        ({"job_id": "a" * 257}, r"job_id must be 1 to 256 printable characters"),
        ({"job_id": "a\nb"}, r"job_id must be 1 to 256 printable .*got 'a\\nb'"),
        ({"job_id": 42}, r"job_id must be a str, got 42 \(int\)"),
        ({"queue": ""}, r"queue must be 1 to 200 printable characters without braces"),
        ({"queue": "a{b}"}, r"queue must be .* without braces, commas or spaces, got 'a\{b\}'"),
        ({"queue": "a,b"}, r"queue must be .*got 'a,b'"),
        ({"queue": 3}, r"queue must be a str, got 3 \(int\)"),
    ],
)
def test_bad_job_options_are_refused_at_options(options: dict[str, Any], message: str) -> None:
    app = make_app()

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(EnqueueError, match="invalid job option: " + message):
        add.options(**options)


def test_good_job_options_pass() -> None:
    app = make_app()

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    add.options(job_id="order-42 (retry)", delay_s=0, queue="emails.v2", result_ttl_s=0)
    add.options(at=NOW + timedelta(hours=1), result_ttl_s=MAX_SECONDS, delay_s=None)
    add.options(delay_s=0.25, job_id="x" * 256)


def test_options_built_by_hand_are_checked_too() -> None:
    from rq_stream.options import JobOptions

    app = make_app()

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(EnqueueError, match=r"result_ttl_s must be an int .*got 1\.5"):
        Call(add, (1, 2), {}, JobOptions(result_ttl_s=1.5))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"result_ttl_s": 0.5}, r"result_ttl_s must be an int from 0 to 2147483647, got 0\.5"),
        ({"result_ttl_s": False}, r"result_ttl_s must be an int .*got False \(bool\)"),
        ({"result_ttl_s": -5}, r"result_ttl_s must be >= 0 \(an int\), got -5"),
        ({"retries": -1}, r"retries must be >= 0 \(an int\), got -1"),
        ({"retries": 1.5}, r"retries must be an int from 0 to 1000000, got 1\.5"),
        ({"max_attempts": 0}, r"max_attempts must be >= 1 \(an int\), got 0"),
        ({"max_attempts": "3"}, r"max_attempts must be an int .*got '3' \(str\)"),
        ({"timeout_s": 0}, r"timeout_s must be a number of seconds > 0, got 0"),
        ({"timeout_s": float("nan")}, r"timeout_s must be a number of seconds > 0, got nan"),
        ({"lease_s": -1.0}, r"lease_s must be a number of seconds > 0, got -1\.0"),
        ({"lease_s": "30"}, r"lease_s must be a number of seconds > 0, got '30' \(str\)"),
        ({"queue": "a b"}, r"queue must be .*without braces, commas or spaces, got 'a b'"),
        ({"backoff": 5}, r"backoff must be a Backoff, got 5"),
        ({"no_retry_on": (ValueError, int)}, r"no_retry_on must be exception classes"),
        ({"rate_limit": 10}, r"rate_limit must be a str like '100/m', got 10"),
        ({"rate_limit": "1/s", "rate_key": "tenant"}, r"rate_key must be a function"),
        ({"unique": "yes"}, r"unique must be a bool or a function"),
        ({"unique_ttl_s": 0}, r"unique_ttl_s must be >= 1 \(an int\), got 0"),
        ({"unique_ttl_s": 1.5}, r"unique_ttl_s must be an int .*got 1\.5"),
    ],
)
def test_bad_task_settings_are_refused_at_registration(
    settings: dict[str, Any], message: str
) -> None:
    app = make_app()
    with pytest.raises(ConfigurationError, match=r"invalid setting of task 'job': " + message):
        app.task(name="job", **settings)(lambda: None)
    assert "job" not in app.tasks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_s": -1}, r"Backoff: base_s must be a number of seconds >= 0, got -1"),
        ({"cap_s": float("inf")}, r"Backoff: cap_s must be at most 2147483647 seconds"),
        ({"jitter": "no"}, r"Backoff: jitter must be a bool, got 'no'"),
    ],
)
def test_bad_backoff_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Backoff(**kwargs)


def test_bad_retry_delay_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"Retry: delay_s must be a number .*got nan"):
        Retry(delay_s=float("nan"))
    assert Retry(delay_s=0).delay_s == 0


def test_bad_queue_declaration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"queue name must be .*got 'x\{y\}'"):
        make_app().queue("x{y}")


def test_the_scripts_use_the_same_bound() -> None:
    lua = source("stream_complete")
    assert re.search(r"local MAX_SECONDS = (\d+)", lua)[1] == str(MAX_SECONDS)  # type: ignore[index]
