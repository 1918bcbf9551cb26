"""Fixtures: a real redis-server on a free loopback port (never a fake), one key prefix per test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rq_stream import RqStream
from rq_stream.testing import RedisServer
from tests.cluster_fixtures import LocalCluster

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """One 3-master Redis Cluster per session (started by the first test that asks)."""
    with LocalCluster(masters=3) as cluster:
        yield cluster


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture
async def app(redis_url: str, prefix: str) -> AsyncIterator[RqStream]:
    application = RqStream(redis_url, prefix=prefix)
    async with application:
        yield application


class Procs:
    """Worker subprocesses started by a test; all are killed at teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def worker(
        self, target: str, url: str, prefix: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        environ = {
            **os.environ,
            "REDIS_URL": url,
            "RQ_STREAM_PREFIX": prefix,
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "rq_stream", "worker", target, *args],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait(10)
            if p.stdout:
                p.stdout.close()


@pytest.fixture
def procs() -> Iterator[Procs]:
    p = Procs()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def make_app(redis_url: str, prefix: str) -> Callable[..., RqStream]:
    def make(**kwargs: object) -> RqStream:
        return RqStream(redis_url, prefix=prefix, **kwargs)  # type: ignore[arg-type]

    return make
