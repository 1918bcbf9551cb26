"""Cache-aside for async functions: ``@app.cached(ttl_s=60)``.

    @app.cached(ttl_s=300, key=lambda user_id: str(user_id))
    async def get_user(user_id: int) -> dict[str, Any]: ...

    await get_user(42)                       # Redis, or computed once and stored for ttl_s
    await get_user.invalidate(42)            # drop it (the next call recomputes)
    await get_user.set({"id": 42, ...}, 42)  # write-through after an update
    get_user.stats                           # hits, misses, computes (this process)

Values are stored with :func:`rq_stream.codec.dumps`, so they come back as the codec decodes
them (a tuple as a list), on the first call as on later ones.

Stampede protection: on a miss, one caller (in any process) takes a short fill lock and
computes; the others wait for its value, published on the key's channel. If the filler dies its
lock expires after ``lock_ttl_s`` and a waiter takes over; a waiter that has waited ``wait_s``
computes the value itself (without storing it). A fill whose key was invalidated or written
through meanwhile is not stored, so a slow read cannot cache data older than the update.
"""

from __future__ import annotations

import hashlib
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

import anyio
import structlog
from redis import exceptions as rex

from rq_stream import codec
from rq_stream.client.task import default_name
from rq_stream.errors import ConfigurationError
from rq_stream.patterns.unique import _canonical, call_by_name

if TYPE_CHECKING:
    from rq_stream.context import Context

log = structlog.get_logger("rq_stream.cache")

P = ParamSpec("P")
R = TypeVar("R")

_HIT, _FILL, _WAIT = 1, 2, 0


@dataclass
class CacheStats:
    """Counts for one cached function in this process."""

    hits: int = 0
    misses: int = 0
    computes: int = 0
    """Calls of the function (by this process): fills, plus fallbacks after ``wait_s``."""
    waited: int = 0
    """Misses served by another caller's computation."""


@dataclass(frozen=True, slots=True)
class _Keys:
    value: str
    fill: str
    channel: str


class Cached(Generic[P, R]):
    """An async function with a Redis cache in front of it (made by ``@app.cached``)."""

    def __init__(
        self,
        app: Context,
        fn: Callable[P, Awaitable[R]],
        *,
        ttl_s: float,
        key: Callable[..., object] | None = None,
        namespace: str | None = None,
        lock_ttl_s: float = 10.0,
        wait_s: float | None = None,
        redis_stats: bool = False,
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise ConfigurationError(f"@app.cached needs an async function, got {fn!r}")
        for label, value in (("ttl_s", ttl_s), ("lock_ttl_s", lock_ttl_s), ("wait_s", wait_s)):
            if value is not None and value <= 0:
                raise ConfigurationError(f"cached {label} must be positive, got {value!r}")
        self.app = app
        self.fn = fn
        self.ttl_s = ttl_s
        self.key = key
        self.namespace = namespace or default_name(fn)
        self.lock_ttl_s = lock_ttl_s
        self.wait_s = lock_ttl_s if wait_s is None else wait_s
        self.redis_stats = redis_stats
        self.stats = CacheStats()
        self._signature = inspect.signature(fn)
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__

    def __repr__(self) -> str:
        return f"Cached({self.namespace!r}, ttl_s={self.ttl_s})"

    # ------------------------------------------------------------------ keys
    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The key these arguments are cached under (``key(...)``, or a digest of them)."""
        if self.key is not None:
            return str(call_by_name(self.key, self._signature, args, kwargs))
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        data = codec.dumps(_canonical(list(bound.arguments.items())))
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    def _keys(self, key: str) -> _Keys:
        # The braces make the value, its fill lock and its channel one hash tag (one cluster
        # slot), since the scripts touch value and fill lock together.
        tagged = "{" + key.replace("{", "(").replace("}", ")") + "}"
        k = self.app.keys
        return _Keys(
            k.cache(self.namespace, tagged),
            k.cache_fill(self.namespace, tagged),
            k.cache_channel(self.namespace, tagged),
        )

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_s * 1000))

    # ------------------------------------------------------------------ reading
    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        k = self._keys(self.cache_key(*args, **kwargs))
        token = uuid.uuid4().hex
        try:
            status, data = await self._get(k, token)
        except (rex.RedisError, OSError) as exc:
            log.warning("cache unavailable; calling the function directly",
                        cache=self.namespace, error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            return await self.fn(*args, **kwargs)
        if status == _HIT:
            await self._count("hits")
            return cast(R, codec.loads(data))
        await self._count("misses")
        if status == _WAIT:
            status, data = await self._wait(k, token, data)
            if status == _HIT:
                self.stats.waited += 1
                return cast(R, codec.loads(data))
        await self._count("computes")
        if status == _FILL:
            return await self._fill(k, token, args, kwargs)
        return await self.fn(*args, **kwargs)  # waited wait_s in vain: compute, do not store

    async def _get(self, k: _Keys, token: str) -> tuple[int, Any]:
        lock_ms = max(1, int(self.lock_ttl_s * 1000))
        status, data = await self.app.scripts.run("cache_get", [k.value, k.fill], [token, lock_ms])
        return int(status), data

    async def _wait(self, k: _Keys, token: str, pttl: int) -> tuple[int, Any]:
        """Wait for another caller's value: (_HIT, value), (_FILL, _) to compute it here
        (the filler died or gave up), or (_WAIT, _) after ``wait_s``."""
        deadline = time.monotonic() + self.wait_s
        async with self.app.channels.listen(k.channel) as inbox:
            while True:
                status, data = await self._get(k, token)
                left = deadline - time.monotonic()
                if status != _WAIT or left <= 0:
                    return status, data
                pttl = int(data)  # 0: the fill lock expires this very millisecond
                message = await inbox.next(min(left, max(pttl, 1) / 1000 if pttl >= 0 else left))
                if message is not None and message[:1] == b"V":
                    return _HIT, message[1:]
                # None (timeout: the fill lock may have expired) or a re-check notice: loop.

    async def _fill(self, k: _Keys, token: str, args: Any, kwargs: Any) -> R:
        try:
            data = codec.dumps(await self.fn(*args, **kwargs))
        except BaseException:
            # Let a waiter take over at once instead of after the fill lock's TTL.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self.app.scripts.run("lock_release", [k.fill], [token, k.channel])
            raise
        await self.app.scripts.run(
            "cache_fill", [k.value, k.fill], [token, data, self._ttl_ms, k.channel]
        )
        return cast(R, codec.loads(data))

    # ------------------------------------------------------------------ writing
    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Drop the cached value for these arguments (and any fill in progress)."""
        k = self._keys(self.cache_key(*args, **kwargs))
        await self.app.scripts.run("cache_set", [k.value, k.fill], [b"", 0, k.channel])

    async def set(self, value: R, /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Write-through: store ``value`` as the result for these arguments, for ``ttl_s``."""
        k = self._keys(self.cache_key(*args, **kwargs))
        data = codec.dumps(value)
        await self.app.scripts.run("cache_set", [k.value, k.fill], [data, self._ttl_ms, k.channel])

    # ------------------------------------------------------------------ counters
    @property
    def _stats_key(self) -> str:
        return self.app.keys.cache_stats(self.namespace)

    async def _count(self, field: str) -> None:
        setattr(self.stats, field, getattr(self.stats, field) + 1)
        if self.redis_stats:
            await self.app.redis.hincrby(self._stats_key, field, 1)

    async def shared_stats(self) -> dict[str, int]:
        """Counts from every process (only kept with ``redis_stats=True``)."""
        raw = await self.app.redis.hgetall(self._stats_key)
        out = dict.fromkeys(("hits", "misses", "computes"), 0)
        out.update({k.decode(): int(v) for k, v in raw.items()})
        return out

    def local_stats(self) -> dict[str, int]:
        return asdict(self.stats)


def cached(
    app: Context,
    *,
    ttl_s: float,
    key: Callable[..., object] | None = None,
    namespace: str | None = None,
    lock_ttl_s: float = 10.0,
    wait_s: float | None = None,
    redis_stats: bool = False,
) -> Callable[[Callable[P, Awaitable[R]]], Cached[P, R]]:
    def decorate(fn: Callable[P, Awaitable[R]]) -> Cached[P, R]:
        return Cached(app, fn, ttl_s=ttl_s, key=key, namespace=namespace, lock_ttl_s=lock_ttl_s,
                      wait_s=wait_s, redis_stats=redis_stats)  # fmt: skip

    return decorate


__all__ = ["CacheStats", "Cached", "cached"]
