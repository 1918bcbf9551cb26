"""The oldest job waiting in a queue (for ``rq_stream_queue_lag_seconds``)."""

from __future__ import annotations

from redis import exceptions as rex

from rq_stream.context import Context
from rq_stream.errors import EnvelopeError


async def oldest_waiting_ms(ctx: Context, queue: str, backend: str, group: str) -> int:
    """When the oldest job waiting to be taken became ready (epoch ms), 0 if none waits.

    Streams: the first entry after the group's last-delivered id; its id is the Redis time of
    its ``XADD`` (when it was enqueued, or when its delay or retry backoff ran out). Lists: the
    envelope's ``enqueued_ms`` of the job at the taking end of the backlog (the producer's
    clock; for a delayed or retried job, its first enqueue).
    """
    k = ctx.keys.queue(queue)
    r = ctx.redis
    if backend == "lists":
        raw = await r.lindex(k.pending, -1)
        if raw is None:
            return 0
        try:
            return max(0, ctx.payloads.decode_envelope(raw).enqueued_ms)
        except EnvelopeError:
            return 0
    start = "-"
    try:
        for g in await r.xinfo_groups(k.stream):
            name = g["name"]
            if (name.decode() if isinstance(name, bytes) else name) == group:
                last = g["last-delivered-id"]
                start = "(" + (last.decode() if isinstance(last, bytes) else last)
    except rex.ResponseError:  # no stream yet
        return 0
    rows = await r.xrange(k.stream, min=start, count=1)
    if not rows:
        return 0
    entry_id = rows[0][0]
    return int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0])


__all__ = ["oldest_waiting_ms"]
