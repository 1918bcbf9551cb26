"""Concurrency per key: ``@app.task(concurrency=2, concurrency_key=lambda tenant, **_: tenant)``
runs at most 2 jobs of the task at once per tenant, across all workers and processes.

The slots are a sorted set per (task, key) in the task's queue (``keys.QueueKeys.slots``): one
member per running job (``job_id:attempt``) scored by when its hold expires. ``slot_acquire.lua``
drops expired holds and takes a slot if fewer than N are held, in one call; the worker renews
its holds with its leases (so a SIGKILLed holder's slot frees within the lease) and releases
the slot when the job's call ends (``worker/keylimit.py``). The key is computed from the job's
arguments: at enqueue (a key function that fails refuses the job there, with the reason) and
again at the worker (nothing is stored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rq_stream.errors import ConcurrencyKeyError
from rq_stream.patterns.unique import call_by_name

if TYPE_CHECKING:
    from rq_stream.client.task import Task
    from rq_stream.keys import AppKeys

MAX_KEY_CHARS = 200
"""The longest value a ``concurrency_key`` may return (it becomes part of a Redis key)."""


def slot_key(keys: AppKeys, task: Task[Any, Any], args: Any, kwargs: Any) -> str:
    """The Redis key of the slots a job of ``task`` with these arguments takes; raises
    :class:`ConcurrencyKeyError` if the task's ``concurrency_key`` raises or returns no str."""
    name = task.name
    key_fn = task.settings.concurrency_key
    if key_fn is not None:
        name = f"{name}:{key_value(task, args, kwargs)}"
    return keys.queue(task.settings.queue).slots(name)


def key_value(task: Task[Any, Any], args: Any, kwargs: Any) -> str:
    key_fn = task.settings.concurrency_key
    assert key_fn is not None
    try:
        value = call_by_name(key_fn, task.signature, args, kwargs)
    except Exception as exc:
        raise ConcurrencyKeyError(
            f"the concurrency_key of task {task.name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_CHARS:
        raise ConcurrencyKeyError(
            f"the concurrency_key of task {task.name!r} must return a non-empty str of at most "
            f"{MAX_KEY_CHARS} characters, got {type(value).__name__} {value!r:.80}"
        )
    return value


__all__ = ["MAX_KEY_CHARS", "key_value", "slot_key"]
