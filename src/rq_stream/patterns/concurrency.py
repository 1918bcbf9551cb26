"""Concurrency per key: ``@app.task(concurrency=2, concurrency_key=lambda tenant, **_: tenant)``
runs at most 2 jobs of the task at once per tenant, across all workers and processes.

The slots are a sorted set per (task, key) in the task's queue (``keys.QueueKeys.slots``): one
member per running job (``job_id:attempt``) scored by when its hold expires. ``slot_acquire.lua``
drops expired holds and takes a slot if fewer than N are held, in one call; the worker renews
its holds with its leases (so a SIGKILLed holder's slot frees within the lease) and releases
the slot when the job's call ends (``worker/keylimit.py``). A job refused a slot is deferred
(not an attempt) and listed as waiting; ``slot_release.lua`` makes the oldest waiter due at
once, and a backoff growing with the waiters brings it back if that wake is missed. The key
is computed from the job's arguments: at enqueue (a key function that fails refuses the job
there, with the reason) and again at the worker (nothing is stored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rq_stream.errors import ConcurrencyKeyError
from rq_stream.patterns.unique import call_by_name

if TYPE_CHECKING:
    from rq_stream.client.task import Task

MAX_KEY_CHARS = 200
"""The longest value a ``concurrency_key`` may return (it becomes part of a Redis key)."""


def slot_name(task: Task[Any, Any], args: Any, kwargs: Any) -> str:
    """The name of the slots a job of ``task`` with these arguments takes (``keys.QueueKeys.slots``
    in the task's queue); raises :class:`ConcurrencyKeyError` if the task's ``concurrency_key``
    raises or returns no str."""
    if task.settings.concurrency_key is None:
        return task.name
    return f"{task.name}:{key_value(task, args, kwargs)}"


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


__all__ = ["MAX_KEY_CHARS", "key_value", "slot_name"]
