"""The cleanups of injected providers (the code after a generator's ``yield``), for one job or
for the worker's life: exited last opened first, each told the same outcome, so a generator
sees the job's error at its ``yield`` even if another one swallowed it, and none can hide it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


class Cleanups:
    """Context managers entered one by one and exited together by :meth:`close`."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: list[AbstractAsyncContextManager[Any] | AbstractContextManager[Any]] = []

    async def enter_async(self, cm: AbstractAsyncContextManager[T]) -> T:
        value = await cm.__aenter__()
        self._open.append(cm)
        return value

    def enter(self, cm: AbstractContextManager[T]) -> T:
        value = cm.__enter__()
        self._open.append(cm)
        return value

    async def close(self, exc: BaseException | None = None) -> list[BaseException]:
        """Exit every context manager with ``exc`` (None: success); the errors they raised
        (``exc`` itself aside), in the order they were raised. A cancellation (the time given
        to the cleanups ran out) stops at once; the rest stay open."""
        et = None if exc is None else type(exc)
        tb = None if exc is None else exc.__traceback__
        errors: list[BaseException] = []
        while self._open:
            cm = self._open.pop()
            try:
                if isinstance(cm, AbstractAsyncContextManager):
                    await cm.__aexit__(et, exc, tb)
                else:
                    cm.__exit__(et, exc, tb)
            except BaseException as err:
                if err is exc:
                    continue
                if isinstance(err, anyio.get_cancelled_exc_class()):
                    raise
                errors.append(err)
        return errors


__all__ = ["Cleanups"]
