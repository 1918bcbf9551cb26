"""What workers log: JSON lines for everything in ``--log-format json`` (stdlib records too),
per-job DEBUG events only when DEBUG is shown, a requested retry told apart from a failure, and
INFO by default for an embedded worker of an application that configured no logging."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from rq_stream import RqStream

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.log_app:app"


def env(redis_url: str, prefix: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix,
            "PYTHONPATH": str(ROOT)}  # fmt: skip


async def enqueue(redis_url: str, prefix: str, *jobs: tuple[str, list[Any]]) -> None:
    """Enqueue by name from a client that has stubs of tests/apps/log_app.py's tasks."""
    client = RqStream(redis_url, prefix=prefix)
    for name in ("add", "chatty", "again", "broken"):
        client.task(name=name)(lambda *a: None)
    async with client:
        for name, args in jobs:
            await client.enqueue_by_name(name, args)


async def burst_worker(redis_url: str, prefix: str, *args: str) -> list[str]:
    """Run a CLI worker until the queues are empty; its stderr lines."""
    proc = await anyio.run_process(
        [sys.executable, "-m", "rq_stream", "worker", APP, "--burst", *args],
        cwd=ROOT,
        env=env(redis_url, prefix),
        check=False,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    return err.splitlines()


def events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


async def test_json_mode_renders_stdlib_records_as_json(redis_url: str, prefix: str) -> None:
    await enqueue(redis_url, prefix, ("chatty", ["hello"]), ("add", [1, 2]))
    lines = await burst_worker(redis_url, prefix, "--log-format", "json")
    parsed = events(lines)  # every line is JSON
    (warning,) = [e for e in parsed if e["event"] == "a stdlib warning: hello"]
    assert (warning["level"], warning["logger"]) == ("warning", "chatty.stdlib")
    assert "timestamp" in warning
    (error,) = [e for e in parsed if e["event"] == "a stdlib error with a traceback"]
    assert error["level"] == "error"
    assert "KeyError: 'hello'" in error["exception"]
    assert any(e["event"] == "worker started" for e in parsed)


async def test_per_job_events_only_at_debug(redis_url: str, prefix: str) -> None:
    await enqueue(redis_url, prefix, ("add", [1, 2]), ("broken", []))
    debug = events(
        await burst_worker(redis_url, prefix, "--log-format", "json", "--log-level", "debug")
    )
    started = [e for e in debug if e["event"] == "job started"]
    assert sorted(e["task"] for e in started) == ["add", "broken", "broken"]
    assert {e["attempt"] for e in started if e["task"] == "broken"} == {1, 2}
    (succeeded,) = [e for e in debug if e["event"] == "job succeeded"]
    assert succeeded["task"] == "add"
    assert succeeded["duration_ms"] >= 0
    assert {"job_id", "queue", "attempt", "worker"} <= succeeded.keys()
    (retry,) = [e for e in debug if e["event"] == "job failed; will retry"]
    (dead,) = [e for e in debug if e["event"].startswith("job failed for good")]
    assert retry["duration_ms"] >= 0
    assert dead["duration_ms"] >= 0

    await enqueue(redis_url, prefix, ("add", [3, 4]))
    info = events(await burst_worker(redis_url, prefix, "--log-format", "json"))
    assert not [e for e in info if e["event"] in ("job started", "job succeeded")]
    assert not [e for e in info if e["level"] == "debug"]


async def test_a_requested_retry_is_not_logged_as_a_failure(redis_url: str, prefix: str) -> None:
    await enqueue(redis_url, prefix, ("again", []))
    parsed = events(await burst_worker(redis_url, prefix, "--log-format", "json"))
    (asked,) = [e for e in parsed if e["event"] == "job asked to be retried"]
    assert asked["level"] == "info"
    assert asked["retry_in_ms"] == 10
    assert asked["reason"] == "not yet"
    assert asked["attempt"] == 1
    assert asked["duration_ms"] >= 0
    assert not [e for e in parsed if "failed" in e["event"] and e["event"] != "worker stopped"]


EMBEDDED = """
import asyncio, os, sys
{configure}
from rq_stream import RqStream, Worker

app = RqStream(os.environ["REDIS_URL"], prefix=os.environ["RQ_STREAM_PREFIX"])

@app.task
async def add(x: int, y: int) -> int:
    return x + y

async def main() -> None:
    async with app:
        await add.enqueue(1, 2)
        await Worker(app, burst=True, handle_signals=False).run()

asyncio.run(main())
"""

USER_STRUCTLOG = """
import logging, structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
                    logger_factory=structlog.PrintLoggerFactory(sys.stderr))
"""


@pytest.mark.parametrize("configured", [False, True], ids=["unconfigured", "user-structlog"])
async def test_embedded_worker_logs_info_unless_configured(
    tmp_path: Path, redis_url: str, prefix: str, configured: bool
) -> None:
    script = tmp_path / "embedded.py"
    configure = USER_STRUCTLOG if configured else ""
    script.write_text(textwrap.dedent(EMBEDDED.format(configure=configure)))
    proc = await anyio.run_process(
        [sys.executable, str(script)], env=env(redis_url, prefix), check=False
    )
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, out
    assert "worker started" in out
    if configured:  # the application's own configuration is kept: it asked for DEBUG
        assert "job started" in out
        assert "job succeeded" in out
    else:
        assert "job started" not in out
        assert "debug" not in out.lower()
