"""The "limit" row: the bare protocol loop a streams queue cannot beat in one Python process.

    python limit_bench.py        # one worker process (run.py starts one per process wanted)

Worker: one asyncio loop on one connection. XREADGROUP COUNT 500 (BLOCK 1 s), a msgpack decode
per entry, the job run inline (the benchmark's no-op: ``probe.hit()``), then one pipelined
round trip with a SET of each result (TTL 1 h), one XACK and one XDEL of the batch: two round
trips per batch. Producer: XADD of a msgpack payload, one await at a time, or 1,000
pipelined to a round trip for bulk. No leases, retries, reclaim, stats or events: nothing a
queue needs beyond getting the job there, running it once and storing its result.

Commands are packed by ``hiredis.pack_command`` and replies parsed by ``hiredis.Reader`` in an
asyncio protocol's ``data_received`` (no client library in between; the design of rq_stream's
own lean connection), in rq_stream's virtualenv: the same parser and codec (msgpack) rq_stream
uses, so the gap to this row is rq_stream's own cost.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import deque
from typing import Any
from urllib.parse import urlparse

import hiredis
import msgpack
from probe import probe, redis_url

STREAM, GROUP, RESULT = b"limit:stream", b"limit:group", b"limit:result:"
BATCH, BULK_CHUNK, RESULT_TTL_S = 500, 1000, 3600


class Conn(asyncio.Protocol):
    """Pipelined RESP on an asyncio protocol: ``send`` writes commands and returns one future
    for all their replies, which ``data_received`` parses and hands out in order."""

    def __init__(self) -> None:
        self._parser = hiredis.Reader()
        self._waiting: deque[tuple[int, list[Any], asyncio.Future[list[Any]]]] = deque()
        self._transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, url: str) -> Conn:
        parsed = urlparse(url)
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(cls, parsed.hostname, parsed.port or 6379)
        db = (parsed.path or "/0").lstrip("/") or "0"
        if db != "0":
            await conn.call(("SELECT", db))
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # TCP, TCP_NODELAY set by asyncio
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while (got := self._parser.gets()) is not False:
            n, replies, future = self._waiting[0]
            replies.append(got)
            if len(replies) == n:
                self._waiting.popleft()
                future.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        for _, _, future in self._waiting:
            future.set_exception(ConnectionError("redis closed the connection"))

    def send(self, cmds: list[tuple[Any, ...]]) -> asyncio.Future[list[Any]]:
        assert self._transport is not None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((len(cmds), [], future))
        self._transport.write(b"".join(hiredis.pack_command(c) for c in cmds))
        return future

    async def pipeline(self, cmds: list[tuple[Any, ...]]) -> list[Any]:
        replies = await self.send(cmds)
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise reply
        return replies

    async def call(self, cmd: tuple[Any, ...]) -> Any:
        return (await self.pipeline([cmd]))[0]

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def payload(kind: str, enqueued_at: float) -> bytes:
    args = [enqueued_at] if kind == "stamp" else []
    return msgpack.packb({"id": uuid.uuid4().hex, "task": kind, "args": args, "kwargs": {}})


def run(job: dict[str, Any]) -> None:
    if job["task"] == "stamp":
        probe.hit(job["args"][0])
    elif job["task"] == "noop":
        probe.hit()
    else:
        raise ValueError(f"the bare loop runs no {job['task']!r} jobs")


async def work(conn: Conn, consumer: str) -> None:
    read = (b"XREADGROUP", b"GROUP", GROUP, consumer, b"COUNT", BATCH, b"BLOCK", 1000,
            b"STREAMS", STREAM, b">")  # fmt: skip
    while True:
        reply = await conn.call(read)
        if not reply:
            continue
        entries = reply[0][1]
        cmds: list[tuple[Any, ...]] = []
        for _, fields in entries:
            job = msgpack.unpackb(fields[1])
            cmds.append((b"SET", RESULT + job["id"].encode(), msgpack.packb(run(job)),
                         b"EX", RESULT_TTL_S))  # fmt: skip
        ids = [entry_id for entry_id, _ in entries]
        cmds += [(b"XACK", STREAM, GROUP, *ids), (b"XDEL", STREAM, *ids)]
        await conn.pipeline(cmds)


async def prepare(conn: Conn) -> None:
    try:
        await conn.call((b"XGROUP", b"CREATE", STREAM, GROUP, b"0", b"MKSTREAM"))
    except hiredis.ReplyError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def main() -> None:
    conn = await Conn.open(redis_url())
    await prepare(conn)
    await work(conn, f"c{os.getpid()}")


class Client:
    bulk_note = "pipelined XADD, 1,000 per round trip"

    def __init__(self) -> None:
        self.conn: Conn | None = None

    async def start(self) -> None:
        self.conn = await Conn.open(redis_url())
        await prepare(self.conn)

    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None:
        assert self.conn is not None
        await self.conn.call((b"XADD", STREAM, b"*", b"j", payload(kind, enqueued_at)))

    async def enqueue_bulk(self, kind: str, n: int) -> None:
        assert self.conn is not None
        for start in range(0, n, BULK_CHUNK):
            size = min(BULK_CHUNK, n - start)
            await self.conn.pipeline(
                [(b"XADD", STREAM, b"*", b"j", payload(kind, 0.0)) for _ in range(size)]
            )

    async def backlog(self) -> int:
        assert self.conn is not None
        return int(await self.conn.call((b"XLEN", STREAM)))

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


if __name__ == "__main__":
    asyncio.run(main())
