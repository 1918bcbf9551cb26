"""What lives as long as a worker process: the app's lifespan (``@app.lifespan``, see
:mod:`rq_stream.lifespan`) and the values of providers cached per worker (``Depends(...,
scope="worker")``).

The worker enters the lifespan after it connected and prepared its queues and before it takes a
job, so a lifespan that raises strands nothing: :class:`~rq_stream.errors.LifespanFailed` stops
the worker (the CLI exits with 78, which the supervisor does not restart). It closes the worker's
cached providers, then the lifespan, after its last job was acked and the unstarted ones handed
back; errors there are logged, never raised over the worker's own outcome, and each step gets
``EXIT_TIMEOUT_S`` (shielded from the stop's cancellation) before the worker stops waiting.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio

from rq_stream import lifespan
from rq_stream.dependencies import Provider
from rq_stream.errors import LifespanFailed
from rq_stream.lifespan import LifespanFunction
from rq_stream.worker.cleanups import Cleanups
from rq_stream.worker.job_context import WorkerInfo

EXIT_TIMEOUT_S = 10.0
"""How long the worker waits for its cached providers' cleanup, then for the lifespan's exit."""


class WorkerScope:
    """The lifespan's state and the worker-cached provider values of one worker."""

    def __init__(self, lifespan_function: LifespanFunction | None, log: Any) -> None:
        self.state: Any = None
        """What the lifespan yielded (None until it started, or without one)."""
        self._function = lifespan_function
        self._log = log
        self._open: AbstractAsyncContextManager[Any] | None = None
        self._providers = Cleanups()
        self._values: dict[Callable[..., Any], Any] = {}
        self._locks: dict[Callable[..., Any], anyio.Lock] = {}

    async def enter(self, worker: WorkerInfo) -> Any:
        """Start the lifespan; raises :class:`LifespanFailed` naming it and its error."""
        if self._function is None:
            return None
        try:
            cm = lifespan.open_lifespan(self._function, worker)
            state = await cm.__aenter__()
        except Exception as exc:
            raise LifespanFailed(
                f"the worker lifespan {lifespan.describe(self._function)} failed at start: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._open, self.state = cm, state
        return state

    async def cached(self, provider: Provider, make: Callable[[Cleanups], Awaitable[Any]]) -> Any:
        """The worker's value of ``provider``, made on first use by ``make`` (which enters any
        cleanup into the worker's stack); concurrent first uses wait for one another."""
        key = provider.fn
        if key in self._values:
            return self._values[key]
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            if key not in self._values:  # a failure is not kept: the next job tries again
                self._values[key] = await make(self._providers)
        return self._values[key]

    async def close(self) -> None:
        """Clean up the worker-cached providers (last made, first cleaned), then exit the
        lifespan. Idempotent; errors are logged."""
        await self._step("cleaning up the worker-cached dependencies", self._close_providers())
        self._values.clear()
        cm, self._open = self._open, None
        if cm is not None:
            name = lifespan.describe(self._function)
            await self._step("exiting the worker lifespan", cm.__aexit__(None, None, None), name)

    async def _close_providers(self) -> None:
        errors = await self._providers.close()
        for err in errors[1:]:
            self._log.error(
                "cleaning up a worker-cached dependency failed",
                error=f"{type(err).__name__}: {err}",
                exception="".join(traceback.format_exception(err)),
            )
        if errors:
            raise errors[0]

    async def _step(self, what: str, step: Awaitable[object], name: str | None = None) -> None:
        named = {} if name is None else {"lifespan": name}
        with anyio.move_on_after(EXIT_TIMEOUT_S, shield=True) as scope:
            try:
                await step
            except Exception as exc:
                self._log.error(
                    f"{what} failed",
                    **named,
                    error=f"{type(exc).__name__}: {exc}",
                    exception="".join(traceback.format_exception(exc)),
                )
        if scope.cancelled_caught:
            self._log.warning(f"{what} took longer than {EXIT_TIMEOUT_S} s; gave up", **named)


@contextlib.asynccontextmanager
async def failure_unwrapped() -> AsyncIterator[None]:
    """Around the worker's task group: a :class:`LifespanFailed` comes out as itself, not
    inside the group's ``ExceptionGroup``."""
    try:
        yield
    except BaseException as exc:
        inner = getattr(exc, "exceptions", None)
        if inner and len(inner) == 1 and isinstance(inner[0], LifespanFailed):
            raise inner[0] from inner[0].__cause__
        raise


__all__ = ["EXIT_TIMEOUT_S", "WorkerScope", "failure_unwrapped"]
