"""Typed task handles: ``@app.task`` returns a :class:`Task` whose ``enqueue`` is checked
against the function's own signature; job options go through ``.options(...)``, never kwargs."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

from rq_stream.dependencies import Provider, injected_parameters
from rq_stream.errors import ConfigurationError, EnqueueError
from rq_stream.options import JobOptions, JobSettings, TaskOptions, Unpack

if TYPE_CHECKING:
    from rq_stream.client.job import Job
    from rq_stream.client.sync_job import SyncJob

P = ParamSpec("P")
R = TypeVar("R")

_NO_OPTIONS = JobOptions()


class Enqueuer(Protocol):
    """What a task handle needs of its application: a way to enqueue calls."""

    async def enqueue_many(self, calls: Iterable[Call[Any]]) -> list[Job[Any]]: ...

    def enqueue_many_sync(self, calls: Iterable[Call[Any]]) -> list[SyncJob[Any]]: ...


@dataclass(frozen=True, slots=True)
class Call(Generic[R]):
    """One future job: a task, its arguments and its job options (for ``enqueue_many``):
    ``add.call(1, 2)``, ``add.call(1, 2).options(delay_s=5)`` or ``add.options(...).call(1, 2)``."""

    task: Task[Any, R]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    job_options: JobOptions = field(default=_NO_OPTIONS)

    def options(self, **options: Unpack[JobSettings]) -> Call[R]:
        """The same call with these job options merged over its own (a new ``delay_s``
        replaces an earlier ``at``, and the other way round)."""
        return replace(self, job_options=self.job_options.merged(**options))


class Task(Generic[P, R]):
    """A registered task. Call it to run the function here; ``enqueue`` to run it on a worker."""

    def __init__(
        self,
        app: Enqueuer,
        fn: Callable[P, Awaitable[R]] | Callable[P, R],
        options: TaskOptions,
    ) -> None:
        self.app = app
        self.fn = fn
        self.name = options.name
        self.settings = options
        self.is_async = inspect.iscoroutinefunction(fn)
        self.gated = options.rate_limit is not None or options.concurrency is not None
        """A worker admits its jobs first (a rate limit, a concurrency limit)."""
        self.signature = inspect.signature(fn)
        self.injected: dict[str, Provider] = injected_parameters(self.name, self.signature)
        """Parameters the worker fills (``Depends``), not part of the payload; mostly empty."""
        if self.injected:
            self._positional = _injected_positional(self.signature, self.injected)
            if options.process:
                raise ConfigurationError(
                    f"task {self.name!r}: process=True cannot take injected parameters "
                    f"({', '.join(self.injected)}): its subprocess has no providers or worker "
                    "state; resolve them in an async task and pass plain values to it"
                )
        else:
            self._positional = _plain_positional(self.signature)

    def fits(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
        """Cheap check for the common call shape (positional arguments only, plain parameters);
        False means "not sure": bind the signature to know."""
        if self._positional is None or kwargs:
            return False
        required, total = self._positional
        return required <= len(args) <= total

    def __repr__(self) -> str:
        return f"Task({self.name!r}, queue={self.settings.queue!r})"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.fn(*args, **kwargs)

    def check_arguments(
        self,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        error: type[Exception] = EnqueueError,
    ) -> None:
        """Raise ``error`` (:class:`EnqueueError` at enqueue) if the arguments do not fit the
        function."""
        if self.fits(args, kwargs):
            return
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise error(f"arguments do not fit task {self.name!r}{self.signature}: {exc}") from None
        if self.injected and (given := [n for n in self.injected if n in bound.arguments]):
            dep = self.signature.parameters[given[0]].default
            raise error(
                f"task {self.name!r}: {given[0]!r} is injected by the worker ({dep!r}), not an "
                "argument: do not pass a value for it"
            )

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[R]:
        """A job description for ``app.enqueue_many([...])``."""
        return Call(self, args, kwargs)

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue one job; returns once Redis has stored it."""
        (job,) = await self.app.enqueue_many([Call(self, args, kwargs)])
        return job

    def enqueue_sync(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob[R]:
        """``enqueue`` for code without an event loop (Django, Flask, scripts): blocks until
        Redis has stored the job; the handle's ``result()`` blocks too (see rq_stream.sync)."""
        (job,) = self.app.enqueue_many_sync([Call(self, args, kwargs)])
        return job

    def options(self, **options: Unpack[JobSettings]) -> BoundTask[P, R]:
        """Job options for one enqueue: ``add.options(delay_s=5).enqueue(1, 2)``.

        Every option is checked here: a bad one raises :class:`EnqueueError` naming it.
        """
        return BoundTask(self, _NO_OPTIONS.merged(**options))


def default_name(f: Callable[..., Any]) -> str:
    """``module.qualname`` of a function, naming the module as it is imported elsewhere: a
    function of a module run as ``python mymod.py`` (or ``python -m pkg.mymod``) lives in
    ``__main__`` here but in ``mymod`` (``pkg.mymod``) in a worker that imports it."""
    module = f.__module__
    if module == "__main__":
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        path = getattr(main, "__file__", None)
        if spec is not None and spec.name and spec.name != "__main__":
            module = spec.name
        elif path:
            module = os.path.splitext(os.path.basename(path))[0]
    return f"{module}.{f.__qualname__}"


def _plain_positional(sig: inspect.Signature) -> tuple[int, int] | None:
    """(required, total) when every parameter is positional-or-keyword; None otherwise."""
    params = list(sig.parameters.values())
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params):
        return None
    required = sum(1 for p in params if p.default is inspect.Parameter.empty)
    return required, len(params)


def _injected_positional(
    sig: inspect.Signature, injected: Mapping[str, Provider]
) -> tuple[int, int] | None:
    """:func:`_plain_positional` of the payload's parameters, when every injected parameter
    comes after them (so no positional argument can land on one)."""
    params = list(sig.parameters.values())
    payload = [p for p in params if p.name not in injected]
    if any(p.name in injected for p in params[: len(payload)]):
        return None
    return _plain_positional(sig.replace(parameters=payload))


class BoundTask(Generic[P, R]):
    """A task with job options attached."""

    __slots__ = ("_options", "_task")

    def __init__(self, task: Task[P, R], options: JobOptions) -> None:
        self._task = task
        self._options = options

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[R]:
        return Call(self._task, args, kwargs, self._options)

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        (job,) = await self._task.app.enqueue_many([Call(self._task, args, kwargs, self._options)])
        return job

    def enqueue_sync(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob[R]:
        (job,) = self._task.app.enqueue_many_sync([self.call(*args, **kwargs)])
        return job


class TaskDecorator(Protocol):
    """What ``@app.task(...)`` with settings returns: it turns a function into a task."""

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...
