"""Batches completions: everything that finished while the last batch was in flight is acked,
with its result, in one script call per queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio
import structlog

from ..backends.base import Backend, Completion
from .channel import Outbox
from .resilience import Outage

log = structlog.get_logger("rq_stream.worker")

MAX_BATCH = 1000
FINAL_FLUSH_S = 5.0


class Completer:
    def __init__(
        self,
        backends: dict[str, Backend],
        release: Callable[[Sequence[Completion]], None],
    ) -> None:
        self._backends = backends
        self._release = release
        self.lost = 0

    async def run(self, outbox: Outbox[Completion]) -> None:
        """Flush until the outbox is closed and empty (a graceful stop flushes everything).
        Cancelled (``Worker.run()`` cancelled), it still acks what finished, batch in flight
        included (a re-sent completion acts once), within ``FINAL_FLUSH_S``."""
        batch: list[Completion] = []
        try:
            while batch := await outbox.take(MAX_BATCH):
                await self._flush(batch)
            batch = []
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(FINAL_FLUSH_S):
                rest = batch + outbox.take_all()
                if rest:
                    await self._flush(rest)
            raise

    async def _flush(self, batch: list[Completion]) -> None:
        by_queue: dict[str, list[Completion]] = {}
        for c in batch:
            by_queue.setdefault(c.delivery.queue, []).append(c)
        for queue, items in by_queue.items():
            outage = Outage("completing jobs", queue=queue)
            while True:
                try:
                    done = await self._backends[queue].complete(queue, items)
                    break
                except outage.errors as exc:
                    await outage.failed(exc)
            outage.recovered()
            if done < len(items):
                self.lost += len(items) - done
                log.warning(
                    "some finished jobs were no longer owned by this worker (reclaimed by "
                    "another after a stall); their results were not written by this worker",
                    queue=queue,
                    count=len(items) - done,
                )
            self._release(items)
