"""The contract suite: written once, run against every backend on a real redis-server."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from rq_stream import RqStream
from tests.conftest import Procs

BACKENDS = ["streams", "lists"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["single", pytest.param("cluster", marks=pytest.mark.slow)])
def redis_url(request: pytest.FixtureRequest) -> str:
    """The suite runs once on one redis-server, once on a 3-master Redis Cluster."""
    if request.param == "cluster":
        return str(request.getfixturevalue("redis_cluster").url)
    return str(request.getfixturevalue("redis_server").url)


@pytest_asyncio.fixture
async def qapp(redis_url: str, prefix: str, backend: str) -> AsyncIterator[RqStream]:
    """An app whose queue "work" uses the backend under test."""
    application = RqStream(redis_url, prefix=prefix)
    application.queue("work", backend=backend)  # type: ignore[arg-type]
    async with application:
        yield application


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    import anyio

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def spawn(
    procs: Procs, url: str, prefix: str, backend: str, *args: str, lease_s: float = 1.5
) -> subprocess.Popen[bytes]:
    return procs.worker(
        "tests.apps.reliability:app",
        url,
        prefix,
        *args,
        env={"RQS_BACKEND": backend, "RQS_LEASE_S": str(lease_s)},
    )


def output(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    return proc.stdout.read().decode(errors="replace")
