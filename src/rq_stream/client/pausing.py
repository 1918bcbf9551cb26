"""Pausing a queue: ``app.pause(queue)`` / ``app.resume(queue)``, ``rq-stream pause|resume``.

The flag is one key of the queue (``QueueKeys.paused``), set and announced on the queue's pause
channel in one script; workers learn of it from the channel (and re-read it every second, and
at start-up), so a job costs no extra command. While a queue is paused its workers start none of
its jobs; running jobs finish; enqueues (and delayed jobs falling due) fill the backlog as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rq_stream import validate
from rq_stream.errors import ConfigurationError

if TYPE_CHECKING:
    from rq_stream.context import Context


def _keys(ctx: Context, queue: str) -> tuple[str, str]:
    if problem := validate.queue("queue", queue):
        raise ConfigurationError(f"cannot pause or resume: {problem}")
    k = ctx.keys.queue(queue)
    return k.paused, k.pause_channel


async def pause(ctx: Context, queue: str) -> bool:
    """Pause ``queue``; False if it was paused already."""
    key, channel = _keys(ctx, queue)
    return bool(await ctx.scripts.run("queue_pause", (key,), [channel]))


async def resume(ctx: Context, queue: str) -> bool:
    """Resume ``queue``; False if it was not paused."""
    key, channel = _keys(ctx, queue)
    return bool(await ctx.scripts.run("queue_resume", (key,), [channel]))


async def is_paused(ctx: Context, queue: str) -> bool:
    key, _ = _keys(ctx, queue)
    return bool(await ctx.redis.exists(key))


__all__ = ["is_paused", "pause", "resume"]
