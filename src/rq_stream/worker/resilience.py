"""Riding out Redis outages: log once, back off with jitter, log the recovery."""

from __future__ import annotations

import random

import anyio
import structlog
from redis import exceptions as rex

from rq_stream.connect.connection import is_connection_error, is_out_of_memory

log = structlog.get_logger("rq_stream.worker")

TRANSIENT: tuple[type[BaseException], ...] = (
    rex.ConnectionError,
    rex.TimeoutError,
    rex.BusyLoadingError,
    rex.ReadOnlyError,
    rex.TryAgainError,  # Cluster: resharding a slot (MOVED/ASK are followed by redis-py)
    rex.ClusterError,  # Cluster: CLUSTERDOWN/MASTERDOWN in a failover, "TTL exhausted" after
    # redis-py's own retries of MOVED/ASK/TRYAGAIN while a slot migrates
    rex.SlotNotCoveredError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT) or is_connection_error(exc):
        return True  # not any OSError: a missing package file is no outage to wait out
    if is_out_of_memory(exc):
        return True  # memory may be freed (consumers drain, TTLs expire): back off, try again
    text = str(exc)
    return isinstance(exc, rex.ResponseError) and text.startswith(
        ("LOADING", "MASTERDOWN", "UNBLOCKED", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "OOM")
    )


class Outage:
    """Tracks one loop's failures: ``await outage.failed(exc)`` sleeps with jittered backoff."""

    errors: tuple[type[BaseException], ...] = (rex.RedisError, rex.SlotNotCoveredError, OSError)

    def __init__(self, doing: str, base_s: float = 0.05, cap_s: float = 5.0, **context: str):
        self.doing = doing
        self.context = context
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0

    async def failed(self, exc: BaseException) -> None:
        if not is_transient(exc):
            raise exc
        self.failures += 1
        if self.failures == 1:
            log.warning(
                "redis unavailable; retrying with backoff",
                doing=self.doing,
                error=f"{type(exc).__name__}: {exc}",
                **self.context,
            )
        delay = min(self.cap_s, self.base_s * 2 ** min(self.failures, 16))
        await anyio.sleep(delay * (0.5 + random.random() / 2))

    def recovered(self) -> None:
        if self.failures:
            log.info(
                "redis reachable again", doing=self.doing, failures=self.failures, **self.context
            )
            self.failures = 0
