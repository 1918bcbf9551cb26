"""Unique jobs: ``@app.task(unique=True)`` or ``unique=lambda order_id, **_: order_id``.

A unique job's identity is a digest of its task name and either its arguments (bound to the
signature, defaults applied, dict keys sorted, so ``f(1)`` and ``f(x=1)`` are the same job) or
the value the ``unique`` callable returns for them (called with the arguments by name). The
enqueue script claims the queue's key ``unique:<digest>`` atomically with the job, or returns
the live job holding it; the scripts that end a job (success or dead letter) delete it, and its
TTL (``unique_ttl_s``) frees it anyway if the job never ends.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rq_stream import codec
from rq_stream.errors import EnqueueError

if TYPE_CHECKING:
    from rq_stream.client.task import Task
    from rq_stream.keys import AppKeys


def _canonical(value: Any) -> Any:
    """The same structure with dict keys and set members in a stable order."""
    if isinstance(value, Mapping):
        items = [(k, _canonical(v)) for k, v in value.items()]
        return [
            list(kv) for kv in sorted(items, key=lambda kv: (type(kv[0]).__name__, repr(kv[0])))
        ]
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    return value


def call_by_name(
    fn: Callable[..., Any], signature: inspect.Signature, args: Any, kwargs: Any
) -> Any:
    """Call a key function with a job's arguments passed by parameter name, defaults applied,
    so ``lambda tenant, **_: tenant`` works however the job was called."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    params = signature.parameters
    if any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL) for p in params.values()):
        return fn(*bound.args, **bound.kwargs)
    named: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if params[name].kind is params[name].VAR_KEYWORD:
            named.update(value)
        else:
            named[name] = value
    return fn(**named)


def identity(task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The digest naming this job for uniqueness, or None if the task is not unique."""
    unique = task.settings.unique
    if unique is False:
        return None
    if unique is True:
        bound = task.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        material: Any = ["args", list(bound.arguments.items())]
    else:
        try:
            material = ["key", call_by_name(unique, task.signature, args, kwargs)]
        except Exception as exc:
            raise EnqueueError(
                f"the unique key function of task {task.name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    data = codec.dumps([task.name, _canonical(material)])
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def unique_key(
    keys: AppKeys, task: Task[Any, Any], queue: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """The Redis key of this job's uniqueness in ``queue`` ("" if the task is not unique)."""
    digest = identity(task, args, kwargs)
    return "" if digest is None else keys.queue(queue).unique(digest)


__all__ = ["call_by_name", "identity", "unique_key"]
