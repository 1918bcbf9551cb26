"""Dependency injection for tasks, FastAPI style: a task parameter whose default is
``Depends(provider)`` is not part of the payload; the worker calls ``provider`` for each job and
passes what it gives::

    async def get_db(state: State = Depends(worker_state)) -> AsyncIterator[Db]:
        async with state.pool.acquire() as db:
            yield db                       # the code after the yield runs after the job

    @app.task
    async def charge(order_id: int, db: Db = Depends(get_db)) -> str: ...

    await charge.enqueue(5)               # type-checks: db has a default

A provider is a plain or async function, or a plain or async generator function (its code after
``yield`` is the cleanup: it runs after the job whatever its outcome, and sees the job's
exception at the ``yield``). Its own parameters are filled the same way: ``Depends(...)``
defaults, parameters annotated :class:`~rq_stream.JobContext` (the job being run), parameters
with other defaults are left to them. Within one job each provider runs once however often it is
used; ``scope="worker"`` caches its value for the worker's life (cleaned up when the worker
stops, before its lifespan exits). ``worker_state`` gives the state the app's lifespan yielded.

This module is the description; the worker resolves it (:mod:`rq_stream.worker.injection`).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from rq_stream.errors import ConfigurationError

T = TypeVar("T")

Scope = Literal["job", "worker"]
"""``"job"``: called for each job (the default); ``"worker"``: once per worker process."""

Kind = Literal["call", "await", "gen", "agen"]
"""How a provider gives its value: returns it, returns an awaitable, or yields it once."""


class Dependency:
    """The default value ``Depends(provider)`` puts on a parameter (typed as the value)."""

    __slots__ = ("provider", "scope")

    def __init__(self, provider: Callable[..., Any], scope: Scope) -> None:
        self.provider = provider
        self.scope = scope

    def __repr__(self) -> str:
        scope = ", scope='worker'" if self.scope == "worker" else ""
        return f"Depends({_name(self.provider)}{scope})"


@overload
def Depends(provider: Callable[..., AsyncIterator[T]], *, scope: Scope = "job") -> T: ...
@overload
def Depends(provider: Callable[..., Iterator[T]], *, scope: Scope = "job") -> T: ...
@overload
def Depends(provider: Callable[..., Awaitable[T]], *, scope: Scope = "job") -> T: ...
@overload
def Depends(provider: Callable[..., T], *, scope: Scope = "job") -> T: ...


def Depends(provider: Callable[..., Any], *, scope: Scope = "job") -> Any:
    """Inject ``provider``'s value into a task (or provider) parameter: ``db: Db =
    Depends(get_db)``. Typed as the provider's value (what it returns, awaits to or yields), so
    the parameter's annotation is checked against it and ``enqueue`` does not ask for it."""
    if not callable(provider):
        raise ConfigurationError(f"Depends() takes a function, got {provider!r}")
    if scope not in ("job", "worker"):
        raise ConfigurationError(f"Depends(scope=...) is 'job' or 'worker', got {scope!r}")
    return Dependency(provider, scope)


def worker_state() -> Any:
    """The state the app's lifespan yielded in this worker (None without a lifespan): use it as
    ``state: State = Depends(worker_state)``, typed by the parameter's annotation."""
    from rq_stream.worker.job_context import current_job  # the worker side, imported late

    job = current_job()
    if job is None:
        raise RuntimeError("worker_state is only available while a worker runs a job")
    return job.state


# ---------------------------------------------------------------------- the plan
@dataclass(frozen=True, slots=True, eq=False)
class Provider:
    """One provider as the worker runs it: how it gives its value and what it needs."""

    fn: Callable[..., Any]
    scope: Scope
    kind: Kind
    needs: tuple[tuple[str, Provider], ...]
    """Its parameters filled by other providers."""
    job_params: tuple[str, ...]
    """Its parameters annotated ``JobContext``: given the job being run."""
    open: Callable[..., Any]
    """``fn`` itself, or for a generator function ``fn`` as a (async) context manager."""

    @property
    def name(self) -> str:
        return _name(self.fn)


def injected_parameters(task: str, sig: inspect.Signature) -> dict[str, Provider]:
    """The parameters of a task filled by providers (empty for most tasks), checked now: a
    mistake raises :class:`ConfigurationError` at registration, not in the worker."""
    found: dict[str, Provider] = {}
    for p in sig.parameters.values():
        if not isinstance(p.default, Dependency):
            continue
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise ConfigurationError(
                f"task {task!r}: the injected parameter {p.name!r} is positional-only; the "
                "worker passes injected values by keyword"
            )
        found[p.name] = _plan(p.default, ())
    return found


def _plan(dep: Dependency, path: tuple[Callable[..., Any], ...]) -> Provider:
    fn = dep.provider
    if fn in path:
        cycle = " -> ".join(_name(f) for f in (*path[path.index(fn) :], fn))
        raise ConfigurationError(f"dependency cycle: {cycle}")
    needs: list[tuple[str, Provider]] = []
    job_params: list[str] = []
    for p in _signature(fn).parameters.values():
        if p.kind in _VARIADIC:
            continue
        if isinstance(p.default, Dependency):
            needs.append((p.name, _plan(p.default, (*path, fn))))
        elif _is_job_context(p.annotation):
            job_params.append(p.name)
        elif p.default is inspect.Parameter.empty:
            raise ConfigurationError(
                f"provider {_name(fn)}: parameter {p.name!r} has no value to be given: make its "
                "default Depends(...), annotate it JobContext, or give it a default"
            )
        else:
            continue
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise ConfigurationError(
                f"provider {_name(fn)}: parameter {p.name!r} is positional-only; the worker "
                "passes provided values by keyword"
            )
    kind = _kind(fn)
    opened: Callable[..., Any] = fn
    if kind == "agen":
        opened = contextlib.asynccontextmanager(fn)
    elif kind == "gen":
        opened = contextlib.contextmanager(fn)
    provider = Provider(fn, dep.scope, kind, tuple(needs), tuple(job_params), opened)
    if provider.scope == "worker":
        _check_worker_scoped(provider)
    return provider


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _check_worker_scoped(provider: Provider) -> None:
    """A value kept for the worker's life cannot be built from one job's values."""
    if provider.job_params:
        raise ConfigurationError(
            f"provider {provider.name} is cached per worker (scope='worker') but takes the job "
            f"({provider.job_params[0]!r}: JobContext): make it per job"
        )
    for param, sub in provider.needs:
        if sub.scope == "job" and sub.fn is not worker_state:
            raise ConfigurationError(
                f"provider {provider.name} is cached per worker (scope='worker') but depends on "
                f"{sub.name} ({param!r}), which is per job: make that one scope='worker' too"
            )


def _kind(fn: Callable[..., Any]) -> Kind:
    if inspect.isasyncgenfunction(fn):
        return "agen"
    if inspect.isgeneratorfunction(fn):
        return "gen"
    if inspect.iscoroutinefunction(fn):
        return "await"
    return "call"


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    """With string annotations evaluated when they can be (names defined later in the module
    stay strings, matched by name)."""
    try:
        return inspect.signature(fn, eval_str=True)
    except Exception:
        return inspect.signature(fn)


def _is_job_context(annotation: object) -> bool:
    from rq_stream.worker.job_context import JobContext  # the worker side, imported late

    if isinstance(annotation, str):
        return annotation == "JobContext" or annotation.endswith(".JobContext")
    return annotation is JobContext


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


__all__ = ["Dependency", "Depends", "Provider", "Scope", "injected_parameters", "worker_state"]
