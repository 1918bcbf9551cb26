"""What the worker needs of the application it runs jobs for: ``RqStream`` satisfies it
structurally, so the runtime never imports the client side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from redis.asyncio import Redis

from rq_stream.backends.base import Backend
from rq_stream.client.task import Task
from rq_stream.connect.connection import ConnectionSettings
from rq_stream.connect.notify import Channels
from rq_stream.keys import AppKeys
from rq_stream.lifespan import LifespanFunction
from rq_stream.middleware import Middleware
from rq_stream.payloads import Payloads
from rq_stream.schedules import Schedule
from rq_stream.scripts import Scripts


class WorkerApp(Protocol):
    """The registry, connections and settings a :class:`~rq_stream.worker.Worker` uses."""

    @property
    def tasks(self) -> Mapping[str, Task[Any, Any]]:
        """Registered tasks by name."""

    @property
    def keys(self) -> AppKeys: ...

    @property
    def schedules(self) -> Mapping[str, Schedule]:
        """Schedules declared in code: each worker stores those of its queues at start-up."""

    @property
    def max_payload_bytes(self) -> int: ...

    @property
    def lifespan_function(self) -> LifespanFunction | None:
        """What ``@app.lifespan`` registered, run by every worker process."""

    @property
    def middleware(self) -> Sequence[Middleware]:
        """Registered middleware, in order."""

    @property
    def lease_s(self) -> float:
        """The default lease (a task's own ``lease_s`` may shorten it)."""

    @property
    def connection_settings(self) -> ConnectionSettings: ...

    @property
    def payloads(self) -> Payloads:
        """How job payloads and results are encoded (the app's serializer)."""

    @property
    def redis(self) -> Redis: ...

    @property
    def scripts(self) -> Scripts: ...

    @property
    def channels(self) -> Channels: ...

    async def connect(self) -> None:
        """Check that Redis answers."""

    def backend(self, queue: str, consumer: str = "producer") -> Backend:
        """A backend object for ``queue``, acting as ``consumer``."""


__all__ = ["WorkerApp"]
