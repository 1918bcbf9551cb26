"""Prometheus metrics (``pip install 'rq_stream[metrics]'``): counters and histograms of the
jobs, fed by a middleware, and the queue gauges, read from Redis at scrape time.

    metrics = Metrics(app)                      # registers its middleware on the app
    metrics.serve(9100)                         # in a worker or a script: /metrics on :9100
    starlette_app.mount("/metrics", metrics.asgi_app())   # in a producer service

``rq-stream worker APP --metrics-port 9100`` does the first two. With ``--processes N`` the
children record into a ``PROMETHEUS_MULTIPROC_DIR`` the supervisor creates (and removes), and the
supervisor alone serves the sum (prometheus_client's multiprocess mode); see the README.

Nothing here is imported by rq_stream itself: a worker without metrics never loads
``prometheus_client``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, Protocol

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from rq_stream.context import Context
from rq_stream.metrics.collector import QueueCollector
from rq_stream.metrics.recorder import UNKNOWN_TASK, Families, MetricsMiddleware
from rq_stream.middleware import Middleware

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class MetricsHost(Protocol):
    """What metrics need of the application (``RqStream``)."""

    @property
    def context(self) -> Context: ...

    @property
    def tasks(self) -> Mapping[str, Any]: ...

    def task_queues(self) -> set[str]: ...

    def add_middleware(self, middleware: Middleware) -> None: ...


class Metrics:
    """The metrics of ``app`` on a registry of their own (``self.registry``).

    ``queue_gauges``: also serve the queue gauges read from Redis (``rq_stream_queue_depth``,
    ... ``rq_stream_up``), each scrape bounded by ``timeout_s``. ``registry``: register on this
    one instead (e.g. ``prometheus_client.REGISTRY``, beside your own metrics).
    """

    def __init__(
        self,
        app: MetricsHost,
        *,
        queue_gauges: bool = True,
        timeout_s: float = 2.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.families = Families(self.registry)
        tasks = app.tasks
        self.middleware = MetricsMiddleware(self.families, tasks.__contains__)
        app.add_middleware(self.middleware)
        self.collector: QueueCollector | None = None
        if queue_gauges:
            self.collector = QueueCollector(app.context, app.task_queues, timeout_s)
            self.registry.register(self.collector)

    def serve(self, port: int, host: str = "0.0.0.0") -> Any:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns the server
        (``.shutdown()`` stops it)."""
        return serve(self.registry, port, host)

    def asgi_app(self) -> ASGIApp:
        """An ASGI app answering every GET with the metrics (mount it under ``/metrics``)."""
        return asgi_app(self.registry)

    def close(self) -> None:
        if self.collector is not None:
            self.collector.close()


def serve(registry: CollectorRegistry, port: int, host: str = "0.0.0.0") -> Any:
    server, _thread = _start_http_server(port, host, registry=registry)
    return server


def asgi_app(registry: CollectorRegistry) -> ASGIApp:
    """The registry as an ASGI app. The exposition (and the Redis reads of the queue gauges)
    runs in a worker thread, so a slow Redis never blocks the event loop."""

    async def metrics_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await anyio.to_thread.run_sync(generate_latest, registry)
        headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return metrics_app


class Aggregate:
    """The supervisor's side of ``--processes N``: a directory the children record into, and
    one server for the sum of their files plus the queue gauges (read once, here)."""

    def __init__(self, ctx: Context, queues: Callable[[], Iterable[str]], directory: str) -> None:
        self.directory = directory
        self.registry = CollectorRegistry()
        MultiProcessCollector(self.registry, path=directory)  # type: ignore[no-untyped-call]
        self.collector = QueueCollector(ctx, queues)
        self.registry.register(self.collector)
        self._server: Any = None

    def child_env(self) -> dict[str, str]:
        return {**os.environ, MULTIPROC_ENV: self.directory}

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        self._server = serve(self.registry, port, host)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.collector.close()


__all__ = ["MULTIPROC_ENV", "UNKNOWN_TASK", "Aggregate", "Metrics", "asgi_app", "serve"]
