"""Batches completions: everything that finished while the last batch was in flight is acked,
with its result, in one script call per queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio
import structlog

from rq_stream.backends.base import Backend, Completion, Delivery, Failure
from rq_stream.options import DEFAULT_RESULT_TTL_S
from rq_stream.validate import MAX_SECONDS
from rq_stream.worker.channel import Outbox
from rq_stream.worker.resilience import Outage

log = structlog.get_logger("rq_stream.worker")

MAX_BATCH = 1000
FINAL_FLUSH_S = 5.0


class Completer:
    """``worker`` names this worker in the dead letters it writes."""

    def __init__(
        self,
        backends: dict[str, Backend],
        release: Callable[[Sequence[Completion]], None],
        worker: str = "",
        dead_lettered: Callable[[Delivery, Failure], Awaitable[None]] | None = None,
    ) -> None:
        self._backends = backends
        self._release = release
        self._worker = worker
        self._dead_lettered = dead_lettered
        """Middleware ``on_dead_letter`` for the jobs dead-lettered here (None: no middleware)."""
        self.lost = 0
        self.invalid = 0

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
                    done, invalid = await self._backends[queue].complete(items)
                    break
                except outage.errors as exc:
                    await outage.failed(exc)
            outage.recovered()
            if invalid:
                await self._dead_letter(queue, invalid)
            lost = len(items) - done - len(invalid)
            if lost > 0:
                self.lost += lost
                log.warning(
                    "some finished jobs were no longer owned by this worker (reclaimed by "
                    "another after a stall); their results were not written by this worker",
                    queue=queue,
                    count=lost,
                )
            self._release(items)

    async def _dead_letter(self, queue: str, invalid: Sequence[Completion]) -> None:
        """Jobs the completion script refused (nothing written for them): each goes to the
        dead-letter stream alone, with its record kept for the default TTL."""
        backend = self._backends[queue]
        for c in invalid:
            d = c.delivery
            failure = Failure(
                "InvalidJob",
                f"result_ttl_s={d.result_ttl_s!r} is not an int from 0 to {MAX_SECONDS}: the "
                "task ran, but its result could not be stored; enqueue it with a valid "
                "result_ttl_s, or replay this dead letter to run it again",
            )
            log.error(
                "finished job has an invalid result_ttl_s; moving it to the dead-letter stream",
                queue=queue,
                job_id=d.job_id,
                error=failure.message,
            )
            d.result_ttl_s = DEFAULT_RESULT_TTL_S
            outage = Outage("dead-lettering a job", queue=queue)
            while True:
                try:
                    buried = await backend.dead_letter(d, failure, self._worker)
                    break
                except outage.errors as exc:
                    await outage.failed(exc)
            outage.recovered()
            if buried and self._dead_lettered is not None:
                await self._dead_lettered(d, failure)
        self.invalid += len(invalid)
