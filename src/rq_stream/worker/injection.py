"""Giving tasks their injected parameters (``Depends``, described in
:mod:`rq_stream.dependencies`) for each job.

:func:`install` wraps ``Executor.call`` only when some registered task has injected parameters;
tasks without any then pay one ``if``, and an app without any pays nothing. For a task with
them, within the task's timeout: the providers run on the event loop (a plain ``def`` provider
too: keep it quick), each once per job, then the task is called (in a thread for a plain
``def``) with the payload's arguments and the injected values by keyword. The providers'
cleanups (the code after a generator's ``yield``, last opened first) run after the job whatever
its outcome: success, exception, timeout or cancellation at stop, shielded from the stop for up
to ``CLEANUP_TIMEOUT_S``. A generator sees the job's exception at its ``yield`` (so it can roll
back); it cannot swallow it. A cleanup that raises after a success fails the job (a commit that
failed is a failure); after a failure it is logged and the job's own error stands.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import anyio

from rq_stream.backends.base import Delivery
from rq_stream.client.task import Task
from rq_stream.codec import Envelope
from rq_stream.dependencies import Provider
from rq_stream.worker.cleanups import Cleanups
from rq_stream.worker.execution import Executor, RunStep
from rq_stream.worker.job_context import current_job
from rq_stream.worker.lifespan import WorkerScope
from rq_stream.worker.policy import ArgumentError, TaskTimeout

CLEANUP_TIMEOUT_S = 10.0
"""How long a job's provider cleanups may take (shielded from a stop) before the worker stops
waiting for them."""

CallTask = Callable[[Task[Any, Any], Any, Any], Awaitable[Any]]
"""Call a task's function with (args, kwargs): ``Executor._call`` (thread offload included)."""


def install(executor: Executor, tasks: Mapping[str, Task[Any, Any]], scope: WorkerScope) -> None:
    """Make ``executor`` inject the parameters of the tasks that have some, with the values
    cached in ``scope`` (a worker run again gets a new one)."""
    plain = executor.call
    if isinstance(plain, _Injecting):
        plain = plain.plain
    if any(t.injected for t in tasks.values()):
        executor.call = _Injecting(Injector(executor._call, scope, executor.log), plain)


class _Injecting:
    """``Executor.call`` for an app with injected parameters: tasks without any go on to the
    plain step."""

    __slots__ = ("injector", "plain")

    def __init__(self, injector: Injector, plain: RunStep) -> None:
        self.injector = injector
        self.plain = plain

    async def __call__(self, task: Task[Any, Any], d: Delivery) -> Any:
        if task.injected:
            return await self.injector.run(task, d)
        return await self.plain(task, d)


class Injector:
    """Runs a task with injected parameters: check, resolve, call, clean up."""

    def __init__(self, call_task: CallTask, scope: WorkerScope, log: Any) -> None:
        self._call_task = call_task
        self._scope = scope
        self._log = log

    async def run(self, task: Task[Any, Any], d: Delivery) -> Any:
        env = d.envelope
        assert env is not None
        task.check_arguments(env.args, env.kwargs, ArgumentError)
        timeout_s = task.settings.timeout_s
        async with _JobScope(self._log) as job:
            if timeout_s is None:
                return await self._run(task, env, job)
            with anyio.move_on_after(timeout_s):
                return await self._run(task, env, job)
            raise TaskTimeout(f"task {task.name!r} ran longer than its timeout_s={timeout_s}")

    async def _run(self, task: Task[Any, Any], env: Envelope, job: _JobScope) -> Any:
        kwargs = dict(env.kwargs)
        for name, provider in task.injected.items():
            kwargs[name] = await self._value(provider, job)
        return await self._call_task(task, env.args, kwargs)

    async def _value(self, provider: Provider, job: _JobScope) -> Any:
        if provider.scope == "worker":
            return await self._scope.cached(provider, lambda st: self._make(provider, job, st))
        values = job.values
        if provider.fn in values:
            return values[provider.fn]
        value = values[provider.fn] = await self._make(provider, job, job.cleanups)
        return value

    async def _make(self, provider: Provider, job: _JobScope, cleanups: Cleanups) -> Any:
        """Call the provider with its own dependencies; a generator's cleanup goes on
        ``cleanups`` (the job's, or the worker's for ``scope="worker"``)."""
        kwargs = {name: await self._value(sub, job) for name, sub in provider.needs}
        if provider.job_params:
            ctx = current_job()
            kwargs.update(dict.fromkeys(provider.job_params, ctx))
        kind = provider.kind
        if kind == "agen":
            return await cleanups.enter_async(provider.open(**kwargs))
        if kind == "gen":
            return cleanups.enter(provider.open(**kwargs))
        value = provider.open(**kwargs)
        if kind == "await" or inspect.isawaitable(value):  # a def returning one: await it too
            value = await value
        return value


class _JobScope:
    """One job's provider values and cleanups."""

    __slots__ = ("cleanups", "log", "values")

    def __init__(self, log: Any) -> None:
        self.log = log
        self.cleanups = Cleanups()
        self.values: dict[Callable[..., Any], Any] = {}

    async def __aenter__(self) -> _JobScope:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        errors: list[BaseException] = []
        with anyio.move_on_after(CLEANUP_TIMEOUT_S, shield=True) as scope:
            errors = await self.cleanups.close(exc)
        if scope.cancelled_caught:
            self.log.warning(
                f"the job's dependency cleanups took longer than {CLEANUP_TIMEOUT_S} s; gave up",
                **_job_fields(),
            )
        if exc is None and errors:  # after a success: the first one fails the job
            first, *errors = errors
            _log_errors(self.log, errors)
            raise first
        _log_errors(self.log, errors)
        return False  # the job's own error stands


def _log_errors(log: Any, errors: list[BaseException]) -> None:
    for err in errors:
        log.error(
            "a dependency's cleanup failed",
            **_job_fields(),
            error=f"{type(err).__name__}: {err}",
            exception="".join(traceback.format_exception(err)),
        )


def _job_fields() -> dict[str, Any]:
    job = current_job()
    return {} if job is None else {"job_id": job.job_id, "task": job.task, "queue": job.queue}


__all__ = ["CLEANUP_TIMEOUT_S", "Injector", "install"]
