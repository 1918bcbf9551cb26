"""Paused queues, as this worker sees them: a watcher per queue listens on the queue's pause
channel and re-reads its flag every ``PAUSE_CHECK_S`` (a missed message, a reconnection), and
once at start-up; the intake waits while a queue is paused, without a Redis command per job.

What a paused queue means here (the fetch loop checks before each take):
- no job of it starts: jobs a blocking read or a reclaim returned just as the pause arrived are
  *parked*, held (their leases renewed) but not started (no attempt charged), and started on
  resume, or handed back at once if the worker stops first. On the streams backend a reclaim of
  a dead worker's jobs parks them the same way; on the lists backend the reaper returns them to
  the backlog, as always;
- a burst worker counts a paused queue as empty (it does not wait for a resume).
"""

from __future__ import annotations

import anyio

from rq_stream.backends.base import Delivery
from rq_stream.worker.resilience import Outage
from rq_stream.worker.state import WorkerState

PAUSE_CHECK_S = 1.0
"""How often a worker re-reads each queue's pause flag, whatever its channel said."""


class Pausing(WorkerState):
    def is_paused(self, queue: str) -> bool:
        return queue in self._resumed

    def _set_paused(self, queue: str, paused: bool) -> None:
        if paused and queue not in self._resumed:
            self._resumed[queue] = anyio.Event()
            self.log.info("queue paused: starting none of its jobs until it is resumed",
                          queue=queue)  # fmt: skip
        elif not paused and queue in self._resumed:
            self._resumed.pop(queue).set()
            self.log.info("queue resumed", queue=queue)

    async def _read_paused(self, queue: str) -> None:
        key = self.app.keys.queue(queue).paused
        self._set_paused(queue, bool(await self.app.redis.exists(key)))

    async def _pause_watch(self, queue: str) -> None:
        channel = self.app.keys.queue(queue).pause_channel
        outage = Outage("watching for a pause", queue=queue)
        while True:
            try:
                async with self.app.channels.listen(channel) as inbox:
                    while True:
                        await self._read_paused(queue)
                        outage.recovered()
                        message = await inbox.next(PAUSE_CHECK_S)
                        if message is not None:  # at once; the flag is read again anyway
                            self._set_paused(queue, message == b"1")
            except outage.errors as exc:
                await outage.failed(exc)

    async def _wait_resumed(self, queue: str) -> None:
        while (resumed := self._resumed.get(queue)) is not None:
            await resumed.wait()

    def _unpark(self, queue: str) -> list[Delivery]:
        """The jobs parked while ``queue`` was paused, no longer held (to be started now)."""
        parked, self._parked[queue] = self._parked[queue], []
        held = self.held[queue]
        for d in parked:
            held.pop(d.token, None)
        return parked

    def _park(self, queue: str, deliveries: list[Delivery]) -> None:
        """Hold jobs read from a queue being paused, not started (their slots given back)."""
        held = self.held[queue]
        for d in deliveries:
            held[d.token] = d
        self._parked[queue] += deliveries
        self._give(len(deliveries))
        self.log.info("queue paused: holding jobs read just before, not started, until it is "
                      "resumed", queue=queue, count=len(deliveries))  # fmt: skip

    @property
    def _parked_count(self) -> int:
        return sum(len(p) for p in self._parked.values())


__all__ = ["PAUSE_CHECK_S", "Pausing"]
