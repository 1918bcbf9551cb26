"""Distributed locks: ``async with app.lock("name", ttl_s=30): ...``.

Each acquisition holds a random owner token under the lock's key with a TTL, so a crashed holder
frees the lock by itself. Release and renewal are compare-and-act Lua scripts: nobody deletes or
extends a lock that is no longer theirs. While the ``async with`` body runs, a background task
renews the TTL every third of it; if the lock is lost anyway (Redis unreachable for a whole TTL,
or the key deleted by hand) the holder sees ``lock.lost`` become true, and :class:`LockLost` is
raised when the body ends (at once, by cancelling the body, with ``cancel_on_loss=True``).

Waiting for a busy lock does not poll: a waiter sleeps until the holder's release notification
(pub/sub) or the holder's TTL, whichever comes first, then tries again.
"""

from __future__ import annotations

import math
import time
import uuid
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import structlog
from redis import exceptions as rex

from rq_stream.errors import ConfigurationError, LockLost, RqStreamError

if TYPE_CHECKING:
    from rq_stream.context import Context

log = structlog.get_logger("rq_stream.locks")

_REDIS_ERRORS = (rex.RedisError, OSError)


class LockNotAcquired(RqStreamError, TimeoutError):
    """The lock stayed busy for longer than ``timeout_s`` (0: it was busy)."""


# --------------------------------------------------------------------------- the lock
class Lock:
    """A lock named across every process sharing the app's Redis and prefix.

    ``async with app.lock("report", ttl_s=30, timeout_s=10):`` waits up to ``timeout_s`` (None:
    forever, 0: not at all) and raises :class:`LockNotAcquired` when it stays busy. For a
    non-blocking try, ``if await lock.try_acquire(): async with lock: ...`` (entering a lock
    already held only starts the renewal). Not re-entrant; one ``Lock`` object, one holder.
    """

    def __init__(
        self,
        app: Context,
        name: str,
        *,
        ttl_s: float = 30.0,
        timeout_s: float | None = None,
        cancel_on_loss: bool = False,
        renew: bool = True,
    ) -> None:
        if ttl_s <= 0:
            raise ConfigurationError(f"lock ttl_s must be positive, got {ttl_s!r}")
        if timeout_s is not None and timeout_s < 0:
            raise ConfigurationError(f"lock timeout_s must be >= 0 or None, got {timeout_s!r}")
        self.app = app
        self.name = name
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.cancel_on_loss = cancel_on_loss
        self.renew_while_held = renew
        self.key = app.keys.lock(name)
        self.channel = app.keys.lock_channel(name)
        self.token: str | None = None
        self._lost = False
        self._lost_event = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None

    def __repr__(self) -> str:
        return f"Lock({self.name!r}, held={self.held}, lost={self.lost})"

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_s * 1000))

    @property
    def held(self) -> bool:
        """True between a successful acquisition and the release (even if lost meanwhile)."""
        return self.token is not None

    @property
    def lost(self) -> bool:
        """True once this holder found its lock expired or owned by someone else."""
        return self._lost

    async def wait_lost(self) -> None:
        """Return when the lock is lost (for a body that wants to watch for it)."""
        await self._lost_event.wait()

    # ------------------------------------------------------------------ acquire / release
    async def _attempt(self, token: str) -> tuple[bool, int]:
        ok, pttl = await self.app.scripts.run("lock_acquire", [self.key], [token, self._ttl_ms])
        return bool(ok), int(pttl)

    async def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting."""
        return await self.acquire(timeout_s=0)

    async def acquire(self, *, timeout_s: float | None = None) -> bool:
        """Wait up to ``timeout_s`` (None: forever) for the lock; False if it stayed busy."""
        if self.token is not None:
            raise ConfigurationError(f"lock {self.name!r} is already held by this Lock object")
        token = uuid.uuid4().hex
        ok, pttl = await self._attempt(token)
        if not ok and timeout_s != 0:
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            async with self.app.channels.listen(self.channel) as inbox:
                while not ok:
                    ok, pttl = await self._attempt(token)
                    left = math.inf if deadline is None else deadline - time.monotonic()
                    if ok or left <= 0:
                        break
                    # Sleep until a release is published or the holder's TTL runs out.
                    await inbox.next(min(left, pttl / 1000 if pttl > 0 else 1.0))
        if not ok:
            return False
        self.token = token
        self._lost = False
        self._lost_event = anyio.Event()
        return True

    async def release(self) -> bool:
        """Release the lock if this holder still owns it; False if it had been lost."""
        token, self.token = self.token, None
        if token is None:
            return False
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                return bool(
                    await self.app.scripts.run("lock_release", [self.key], [token, self.channel])
                )
            except _REDIS_ERRORS as exc:
                log.warning("could not release lock; it expires by its TTL", lock=self.name,
                            error=str(exc))  # fmt: skip
        return False

    async def renew(self) -> bool:
        """Push the expiry to ``ttl_s`` from now; False (and ``lost``) if no longer held."""
        if self.token is None:
            return False
        ok = bool(await self.app.scripts.run("lock_renew", [self.key], [self.token, self._ttl_ms]))
        if not ok:
            self._mark_lost("it expired or another owner took it")
        return ok

    def _mark_lost(self, why: str) -> None:
        if self._lost:
            return
        self._lost = True
        self._lost_event.set()
        log.error("lock lost while held", lock=self.name, reason=why)
        if self.cancel_on_loss and self._tg is not None:
            self._tg.cancel_scope.cancel()

    async def _keep(self) -> None:
        """Renew every third of the TTL; give up once a whole TTL passed without renewal."""
        interval = self.ttl_s / 3
        last_ok = time.monotonic()
        while not self._lost:
            await anyio.sleep(interval)
            try:
                if not await self.renew():
                    return
                last_ok = time.monotonic()
            except _REDIS_ERRORS as exc:
                if time.monotonic() - last_ok >= self.ttl_s:
                    self._mark_lost(f"could not renew it for a whole TTL: {exc}")
                    return
                interval = min(self.ttl_s / 3, 0.2)

    # ------------------------------------------------------------------ async with
    async def __aenter__(self) -> Lock:
        if self.token is None and not await self.acquire(timeout_s=self.timeout_s):
            raise LockNotAcquired(
                f"lock {self.name!r} is held by another owner; not acquired within "
                f"timeout_s={self.timeout_s}"
            )
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        if self.renew_while_held:
            tg.start_soon(self._keep)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        assert tg is not None
        tg.cancel_scope.cancel()  # stops the renewer; the body is already over
        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
        try:
            # Only a cancellation goes through the task group (which swallows its own, sent by
            # cancel_on_loss); any other error of the body propagates as itself, not in a group.
            # Returning None below re-raises the body's exception in every other case.
            await tg.__aexit__(*((exc_type, exc, tb) if cancelled else (None, None, None)))
        finally:
            await self.release()
        if self._lost and (not cancelled or self.cancel_on_loss):
            raise LockLost(
                f"lock {self.name!r} was lost while held (ttl_s={self.ttl_s}): it expired or "
                "another owner took it, so the protected section may have overlapped another "
                "holder's"
            ) from exc


__all__ = ["Lock", "LockNotAcquired"]
