"""The enqueue pipeline: calls are checked and encoded here, then handed to each queue's
backend in one script call per chunk (queues in parallel)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from redis import exceptions as rex

from rq_stream.backends.base import Backend, NewJob
from rq_stream.client.job import Job
from rq_stream.client.task import Call, Enqueuer
from rq_stream.connect import connection
from rq_stream.context import Context
from rq_stream.errors import EnqueueError
from rq_stream.middleware import Bound, EnqueueInfo, Middleware, overriding, run_hooks
from rq_stream.options import JobOptions
from rq_stream.patterns.concurrency import key_value
from rq_stream.patterns.unique import unique_key

_ENQUEUE_CHUNK = 1000
log = structlog.get_logger("rq_stream.client")


class Producer:
    """Enqueues the calls of one application's tasks."""

    def __init__(
        self, ctx: Context, owner: Enqueuer, middleware: Sequence[Middleware] = ()
    ) -> None:
        self._ctx = ctx
        self._owner = owner
        self._backends: dict[str, Backend] = {}
        self._middleware = middleware
        """The application's list (``add_middleware`` appends to it)."""
        self._before: tuple[Bound, ...] = ()
        """The ``before_enqueue`` overrides, noted at the first enqueue after a registration."""
        self._noted = -1

    def forget(self) -> None:
        """Drop the backends built on the clients of a closed context."""
        self._backends.clear()

    async def enqueue_many(self, calls: Iterable[Call[Any]]) -> list[Job[Any]]:
        now_ms = int(time.time() * 1000)
        by_queue: dict[str, list[NewJob]] = {}
        jobs: list[Job[Any]] = []
        if self._noted != len(self._middleware):
            self._before = overriding(self._middleware, "before_enqueue")
            self._noted = len(self._middleware)
        before = self._before
        for c in calls:
            if before:
                job, new = await self._announce(before, c, now_ms)
            else:
                job, new = self._prepare(c, now_ms)
            by_queue.setdefault(job.queue, []).append(new)
            jobs.append(job)
        if not jobs:
            return jobs
        try:
            replies = await self._send(by_queue)
        except (rex.RedisError, OSError) as exc:
            translated = connection.translate(exc, self._ctx.url)
            if translated is exc:
                raise
            raise translated from exc
        # A unique job identical to a live one was not enqueued: hand back the live one.
        if not any(isinstance(r, str) for rs in replies.values() for r in rs):
            return jobs
        seen = dict.fromkeys(replies, 0)
        for i, job in enumerate(jobs):
            reply = replies[job.queue][seen[job.queue]]
            seen[job.queue] += 1
            if isinstance(reply, str):
                jobs[i] = job.for_id(reply)
        return jobs

    async def _send(self, by_queue: dict[str, list[NewJob]]) -> dict[str, list[bool | str]]:
        await self._register_queues(by_queue)
        if len(by_queue) == 1:
            ((queue, items),) = by_queue.items()
            return {queue: await self._enqueue_queue(queue, items)}
        queues = list(by_queue)
        got = await asyncio.gather(*(self._enqueue_queue(q, by_queue[q]) for q in queues))
        return dict(zip(queues, got, strict=True))

    async def _announce(
        self, hooks: tuple[Bound, ...], c: Call[Any], now_ms: int
    ) -> tuple[Job[Any], NewJob]:
        """``_prepare`` with the middleware's ``before_enqueue`` hooks in front (given the job
        id it will have); a hook that raises is logged and the call is enqueued anyway."""
        task, o = c.task, c.job_options
        if task.app is self._owner:  # else _prepare raises
            task.check_arguments(c.args, c.kwargs)
        job_id = o.job_id or os.urandom(16).hex()
        info = EnqueueInfo(task.name, o.queue or task.settings.queue, job_id, c.args, c.kwargs, o)
        await run_hooks(hooks, "before_enqueue", log, info, job_id=job_id, task=task.name)
        return self._prepare(c, now_ms, job_id)

    def _prepare(self, c: Call[Any], now_ms: int, job_id: str = "") -> tuple[Job[Any], NewJob]:
        task, o = c.task, c.job_options
        if task.app is not self._owner:
            raise EnqueueError(f"task {task.name!r} belongs to another RqStream application")
        task.check_arguments(c.args, c.kwargs)
        if task.settings.concurrency_key is not None:  # refused here, not dead-lettered later
            key_value(task, c.args, c.kwargs)
        queue = o.queue or task.settings.queue
        job_id = job_id or o.job_id or os.urandom(16).hex()  # as unique as uuid4, 1/4 the cost
        payloads = self._ctx.payloads
        payload = payloads.encode_job(
            job_id,
            task.name,
            c.args,
            c.kwargs,
            now_ms,
            o.result_ttl_s,
            self._ctx.settings.max_payload_bytes,
        )
        delay_ms = int(o.delay_s * 1000) if o.delay_s else 0
        at_ms = int(o.at.timestamp() * 1000) if o.at is not None else 0
        ukey = self._unique_key(c, queue) if task.settings.unique else ""
        expires_ms = 0
        if o.expires_s or o.expires_at or task.settings.expires_s:
            expires_ms = deadline_ms(task.name, o, task.settings.expires_s, now_ms)
        new = NewJob(job_id, task.name, payload, delay_ms, at_ms, ukey, task.settings.unique_ttl_s,
                     expires_ms)  # fmt: skip
        if payloads.rebuild is None:
            return Job(self._ctx, job_id, queue), new
        # A typed serializer: the handle rebuilds the result from the return annotation.
        read = payloads.rebuild.result_reader(task.fn, task.name)
        return Job(self._ctx, job_id, queue, read), new

    def _unique_key(self, c: Call[Any], queue: str) -> str:
        args, kwargs, plain = c.args, c.kwargs, self._ctx.payloads.to_plain
        if plain is not None:  # a typed serializer: digest the plain data (models are not msgpack)
            args, kwargs = tuple(plain(list(args))), plain(dict(kwargs))
        return unique_key(self._ctx.keys, c.task, queue, args, kwargs)

    def _backend(self, queue: str) -> Backend:
        backend = self._backends.get(queue)
        if backend is None:
            backend = self._backends[queue] = self._ctx.backend(queue)
        return backend

    async def _enqueue_queue(self, queue: str, items: Sequence[NewJob]) -> list[bool | str]:
        """Chunks keep each script short; sent together they pipeline on the one lean connection,
        which keeps their order (and so the queue's FIFO order)."""
        backend = self._backend(queue)
        chunks = [items[i : i + _ENQUEUE_CHUNK] for i in range(0, len(items), _ENQUEUE_CHUNK)]
        if len(chunks) == 1:
            return list(await backend.enqueue(chunks[0]))
        replies = await asyncio.gather(*(backend.enqueue(chunk) for chunk in chunks))
        return [reply for chunk_replies in replies for reply in chunk_replies]

    async def _register_queues(self, queues: Iterable[str]) -> None:
        known = self._ctx.known_queues
        new = [q for q in queues if q not in known]
        if new:
            await self._ctx.redis.sadd(self._ctx.keys.queues, *new)
            for q in new:
                await self._backend(q).prepare()
            known.update(new)


def deadline_ms(task: str, o: JobOptions, task_expires_s: float | None, now_ms: int) -> int:
    """The instant (epoch ms, this client's clock) by which a job must start: its own
    ``expires_at`` or ``expires_s``, else its task's ``expires_s``. A deadline already past is
    refused (the job would never run)."""
    if o.expires_at is not None:
        at_ms = int(o.expires_at.timestamp() * 1000)
        if at_ms <= now_ms:
            raise EnqueueError(
                f"invalid job option: expires_at {o.expires_at.isoformat()} is already past "
                f"(job of task {task!r} not enqueued: it could never start in time)"
            )
        return at_ms
    expires_s = o.expires_s if o.expires_s is not None else task_expires_s
    assert expires_s is not None
    return now_ms + max(1, int(expires_s * 1000))
