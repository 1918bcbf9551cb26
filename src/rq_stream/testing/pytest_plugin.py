"""pytest fixtures for testing an rq_stream application.

pytest loads this plugin by itself wherever rq_stream is installed (the ``pytest11`` entry
point ``rq_stream``; ``-p no:rq_stream`` turns it off). Its fixtures are synchronous, so they
work with any async test runner (pytest-asyncio, or anyio's ``@pytest.mark.anyio``):

- ``rq_redis_server`` (session): a throwaway ``redis-server`` on a free loopback port (the
  binary comes from ``PATH``), stopped at the end of the session.
- ``rq_redis_url``: its URL, or ``$RQ_STREAM_TEST_REDIS_URL`` if set (a Redis you run, e.g. a
  CI service: no server is started, and the tests keep apart by key prefix).
- ``rq_prefix``: a key prefix of the test's own.
- ``rq_bind``: ``async with rq_bind(app):`` binds your module-level app to ``rq_redis_url``
  under ``rq_prefix`` for the block (see :func:`rq_stream.testing.bind`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import pytest

from rq_stream.testing.kit import bind, fresh_prefix
from rq_stream.testing.server import RedisServer

if TYPE_CHECKING:
    from rq_stream import RqStream

URL_VARIABLE = "RQ_STREAM_TEST_REDIS_URL"

Binder = Callable[["RqStream"], AbstractAsyncContextManager["RqStream"]]


@pytest.fixture(scope="session")
def rq_redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def rq_redis_url(request: pytest.FixtureRequest) -> str:
    given = os.environ.get(URL_VARIABLE)
    if given:
        return given
    server: RedisServer = request.getfixturevalue("rq_redis_server")
    return server.url


@pytest.fixture
def rq_prefix() -> str:
    return fresh_prefix()


@pytest.fixture
def rq_bind(rq_redis_url: str, rq_prefix: str) -> Binder:
    def binder(app: RqStream) -> AbstractAsyncContextManager[RqStream]:
        return bind(app, rq_redis_url, prefix=rq_prefix)

    return binder


__all__ = ["Binder", "rq_bind", "rq_prefix", "rq_redis_server", "rq_redis_url"]
