"""``@app.task(process=True)``: a plain function run in a worker subprocess.

Why: lease renewal runs on the worker's event loop. A ``def`` task runs in a thread, which is
fine while it releases the GIL (I/O, most C libraries) or runs Python bytecode (the interpreter
switches threads every few ms), but one C call that holds the GIL longer than ``lease_s`` (a
catastrophic regex, a big ``math``/``int`` operation, a C extension without GIL release) stops
every thread of the worker, the renewal included: the job is reclaimed and run again elsewhere.
A renewal *thread* would not help (it needs the GIL too); another process does.

The subprocesses are anyio's worker processes (``anyio.to_process``): started on demand, reused,
at most ``min(concurrency, CPU count)`` at once per worker, ended after 5 idle minutes or with
the worker. A cancelled call (``timeout_s``, the end of the grace period) kills its subprocess;
one that dies (segfault, ``os._exit``, OOM kill) fails that job with :class:`ProcessDied` and the
worker carries on. On Linux a subprocess is killed when its worker dies.

The function cannot be pickled by reference (``@app.task`` replaced the module attribute with the
:class:`Task` handle), so the subprocess is sent a :class:`TaskRef` (module and qualified name)
and finds the function itself. Arguments, results and exceptions cross by pickle between the
worker and its own subprocesses only; nothing read from Redis is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_process

from rq_stream.errors import ConfigurationError

if TYPE_CHECKING:
    from rq_stream.worker.job_context import JobContext


class ProcessDied(Exception):
    """The subprocess running a ``process=True`` task died before it returned."""


class ProcessTaskError(Exception):
    """A ``process=True`` task could not be run, or raised what cannot cross back as it is."""


@dataclass(frozen=True, slots=True)
class TaskRef:
    """How a subprocess finds a task's function: import ``module``, follow ``qualname``."""

    task: str
    module: str
    qualname: str


def reference(task: str, fn: Callable[..., Any]) -> TaskRef:
    """The reference of a ``process=True`` task; raises :class:`ConfigurationError` when the
    function cannot run in a subprocess (async, lambda, nested, not from a module)."""
    import inspect

    what = f"task {task!r}: process=True"
    if inspect.iscoroutinefunction(fn):
        raise ConfigurationError(
            f"{what} runs a plain def in a subprocess; an async def runs on the event loop "
            "(make it a def, or move its CPU-bound part into a process=True task)"
        )
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:  # <lambda>, <locals>
        raise ConfigurationError(
            f"{what} needs a function defined at the top level of a module (the subprocess "
            f"imports it by name); got {qualname or repr(fn)}"
        )
    return TaskRef(task, module, qualname)


async def run(
    ref: TaskRef,
    ctx: JobContext,
    args: Any,
    kwargs: Any,
    limiter: anyio.CapacityLimiter,
) -> Any:
    """Run the task in a subprocess; cancelling this kills the subprocess."""
    # The lifespan's state stays in the worker (a pool, a client), and so do the cancel flag
    # (the subprocess is killed instead) and the progress sender.
    ctx = dataclasses.replace(ctx, state=None, _flag=None, _sink=None)
    try:
        return await anyio.to_process.run_sync(
            _run_in_child, ref, ctx, args, kwargs, cancellable=True, limiter=limiter
        )
    except anyio.BrokenWorkerProcess as exc:
        if str(exc):  # it did not start: anyio says why, the cause is the child's error
            cause = f": {type(exc.__cause__).__name__}: {exc.__cause__}" if exc.__cause__ else ""
            raise ProcessTaskError(
                f"no subprocess for task {ref.task!r}: {exc}{cause} (a subprocess first runs the "
                "worker's main module as __mp_main__, like multiprocessing's spawn: keep its "
                "start-up code under `if __name__ == '__main__':`)"
            ) from None
        raise ProcessDied(
            f"the subprocess running task {ref.task!r} died before it returned (killed by a "
            "signal, os._exit, a crash in C code, or the OOM killer)"
        ) from None


# ---------------------------------------------------------------------- in the subprocess
@functools.cache
def _setup_child() -> None:
    # Ctrl+C reaches the whole process group: the worker decides what happens to its jobs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":  # die with the worker rather than run an orphaned job
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
            if os.getppid() == 1:  # the worker died before prctl took effect
                os._exit(1)
        except (OSError, AttributeError):
            pass


@functools.cache
def _resolve(ref: TaskRef) -> Callable[..., Any]:
    from rq_stream.client.task import Task

    try:
        obj: Any = importlib.import_module(ref.module)
        for part in ref.qualname.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise ProcessTaskError(
            f"the subprocess could not import task {ref.task!r} as "
            f"{ref.module}.{ref.qualname}: {type(exc).__name__}: {exc}"
        ) from None
    fn = obj.fn if isinstance(obj, Task) else obj
    if not callable(fn):
        raise ProcessTaskError(
            f"{ref.module}.{ref.qualname} is not the function of task {ref.task!r} in the "
            f"subprocess (it is {type(fn).__name__})"
        )
    return fn


def _run_in_child(ref: TaskRef, ctx: JobContext, args: Any, kwargs: Any) -> Any:
    from rq_stream.worker.job_context import _current

    _setup_child()
    fn = _resolve(ref)
    token = _current.set(ctx)
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        raise _crossable(exc) from None
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: not the worker's own
        raise ProcessTaskError(
            f"task {ref.task!r} raised {type(exc).__name__}({exc}) in its subprocess"
        ) from None
    finally:
        _current.reset(token)


def _crossable(exc: Exception) -> Exception:
    """The exception with its subprocess traceback as a note, or a stand-in if it does not
    survive pickling (the worker would fail to read it back)."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        exc = ProcessTaskError(f"{type(exc).__qualname__}: {exc}")
    if hasattr(exc, "add_note"):
        exc.add_note(f"raised in the worker subprocess:\n{text}")
    return exc


__all__ = ["ProcessDied", "ProcessTaskError", "TaskRef", "reference", "run"]
