"""Enqueue from sync code: a plain WSGI app (what a Django or Flask view does), with no event
loop anywhere in the web process. Each request runs in its own thread and calls
``task.enqueue_sync(...)`` or ``app.sync.job(id).result(...)``, which block that thread only.

    python -m workers.wsgi_example                   # serves http://127.0.0.1:8000 ($PORT)
    rq-stream worker workers.wsgi_example:app        # in another shell: runs the jobs
    curl -X POST 'http://127.0.0.1:8000/signup?email=ada@example.com'
        {"job": "3f0c..."}
    curl 'http://127.0.0.1:8000/jobs/3f0c...?wait_s=5'
        {"status": "succeeded", "result": "welcome mail sent to ada@example.com"}
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIServer, make_server

from rq_stream import ConnectionFailed, EnqueueError, ResultTimeout, RqStream, TaskFailed

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "wsgi"))

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@app.task(retries=3, no_retry_on=(ValueError,))
async def send_welcome(email: str) -> str:
    if "@" not in email:
        raise ValueError(f"not an email address: {email!r}")
    return f"welcome mail sent to {email}"


def signup(query: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
    email = query.get("email", [""])[0]
    job = send_welcome.enqueue_sync(email)  # blocks until Redis has the job
    return "202 Accepted", {"job": job.id}


def job_status(job_id: str, query: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
    job = app.sync.job(job_id)
    wait_s = float(query.get("wait_s", ["0"])[0])
    try:
        result = job.result(timeout_s=wait_s) if wait_s else None
    except ResultTimeout:
        return "200 OK", {"status": job.status().value}
    except TaskFailed as exc:
        return "200 OK", {"status": "failed", "error": f"{exc.exc_type}: {exc.message}"}
    return "200 OK", {"status": job.status().value, "result": result}


def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        if method == "POST" and path == "/signup":
            status, body = signup(query)
        elif method == "GET" and path.startswith("/jobs/"):
            status, body = job_status(path.removeprefix("/jobs/"), query)
        else:
            status, body = "404 Not Found", {"error": f"no route for {method} {path}"}
    except EnqueueError as exc:
        status, body = "400 Bad Request", {"error": str(exc)}
    except ConnectionFailed as exc:
        status, body = "503 Service Unavailable", {"error": str(exc)}
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request, as a threaded Django or Flask server runs views."""

    daemon_threads = True


def serve(port: int) -> ThreadingServer:
    return make_server("127.0.0.1", port, wsgi, server_class=ThreadingServer)


if __name__ == "__main__":
    with serve(int(os.environ.get("PORT", "8000"))) as server:
        print(f"serving on http://127.0.0.1:{server.server_port}; enqueueing to {app.url}")
        server.serve_forever()
