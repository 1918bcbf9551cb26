"""``@app.lifespan``: what every worker process opens before its first job and closes after its
last (a database pool, an HTTP client), and the state its tasks reach::

    @app.lifespan
    async def lifespan(worker: WorkerInfo) -> AsyncIterator[State]:
        async with create_pool(DSN) as pool:
            yield State(db=pool)

The function is an async generator function that yields once, or any callable taking the
:class:`~rq_stream.WorkerInfo` and returning an async context manager. The worker runs it
(:mod:`rq_stream.worker.lifespan`); this module only describes and checks it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from rq_stream.errors import ConfigurationError

if TYPE_CHECKING:
    from rq_stream.worker.job_context import WorkerInfo

LifespanFunction = Callable[["WorkerInfo"], AsyncIterator[Any] | AbstractAsyncContextManager[Any]]
"""``(worker) -> AsyncIterator[State]`` (an async generator function) or ``(worker) -> async
context manager``."""

LifespanT = TypeVar("LifespanT", bound=LifespanFunction)


def check(fn: object) -> None:
    """Raise :class:`ConfigurationError` for what cannot be a lifespan, at registration."""
    what = f"@app.lifespan: {describe(fn)}"
    if not callable(fn):
        raise ConfigurationError(f"{what} is not a function")
    if inspect.iscoroutinefunction(fn):
        raise ConfigurationError(
            f"{what} is an async def without a yield: yield the state once (the code after the "
            "yield runs when the worker stops), or return an async context manager"
        )
    if inspect.isgeneratorfunction(fn):
        raise ConfigurationError(f"{what} is a plain generator: make it an async def")


def open_lifespan(fn: LifespanFunction, worker: WorkerInfo) -> AbstractAsyncContextManager[Any]:
    """The lifespan of one worker, as an async context manager (not entered yet)."""
    if inspect.isasyncgenfunction(fn):
        return contextlib.asynccontextmanager(fn)(worker)
    cm = fn(worker)
    if not isinstance(cm, AbstractAsyncContextManager):
        raise ConfigurationError(
            f"the lifespan {describe(fn)} returned {type(cm).__name__}, not an async context "
            "manager (or make it an async generator function that yields once)"
        )
    return cm


def describe(fn: object) -> str:
    """``module.qualname`` of the lifespan function, as the logs name it."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else repr(fn)


__all__ = ["LifespanFunction", "check", "describe", "open_lifespan"]
