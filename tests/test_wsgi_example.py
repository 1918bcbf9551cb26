"""workers/wsgi_example.py: a plain WSGI app (no event loop) enqueues with ``enqueue_sync`` and
reads results with ``app.sync``; served by a real subprocess, the jobs run by a real worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from workers import wsgi_example

from rq_stream.testing import free_port
from tests.conftest import ROOT, Procs


def call(base: str, method: str, path: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def web(redis_url: str, prefix: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "RQ_STREAM_PREFIX": prefix, "PORT": str(port),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "workers.wsgi_example"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith(f"serving on http://127.0.0.1:{port}; enqueueing to "), line
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGKILL)
        server.communicate(timeout=10)


def test_views_enqueue_and_read_results_without_an_event_loop(
    web: str, redis_url: str, prefix: str, procs: Procs
) -> None:
    emails = [f"user{i}@example.com" for i in range(30)]
    with ThreadPoolExecutor(8) as pool:  # concurrent requests, one server thread each
        posted = list(pool.map(lambda e: call(web, "POST", f"/signup?email={e}"), emails))
        assert {status for status, _ in posted} == {202}
        ids = [body["job"] for _, body in posted]
        procs.worker("workers.wsgi_example:app", redis_url, prefix)
        got = list(pool.map(lambda i: call(web, "GET", f"/jobs/{i}?wait_s=60"), ids))
    assert got == [
        (200, {"status": "succeeded", "result": f"welcome mail sent to {e}"}) for e in emails
    ]
    status, body = call(web, "POST", "/signup?email=nobody")
    assert status == 202
    assert call(web, "GET", f"/jobs/{body['job']}?wait_s=60") == (
        200, {"status": "failed", "error": "ValueError: not an email address: 'nobody'"},
    )  # fmt: skip
    assert call(web, "GET", "/nowhere") == (404, {"error": "no route for GET /nowhere"})


def test_an_unreachable_redis_answers_503() -> None:
    app = wsgi_example.app
    saved = app.url
    app.url = "redis://127.0.0.1:1/0"
    replies: list[str] = []
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/signup", "QUERY_STRING": "email=a@b.c"}
    try:
        body = b"".join(wsgi_example.wsgi(environ, lambda status, _: replies.append(status)))
    finally:
        app.sync.close()
        app.url = saved
    assert replies == ["503 Service Unavailable"]
    assert json.loads(body)["error"].startswith(
        "lost connection to Redis at redis://127.0.0.1:1/0: Error 111 connecting to"
    )
