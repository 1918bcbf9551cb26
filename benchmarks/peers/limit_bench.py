"""The "limit" row: the bare protocol loop a streams queue cannot beat in one Python process.

    python limit_bench.py        # one worker process (run.py starts one per process wanted)

Worker: one asyncio loop on one connection. XREADGROUP COUNT 500 (BLOCK 1 s), a msgpack decode
per entry, the job run inline (the benchmark's no-op: ``probe.hit()``), then one pipelined
round trip with a SET of each result (TTL 1 h), one XACK and one XDEL of the batch: two round
trips per batch. Producer: XADD of a msgpack payload, one await at a time, or 1,000
pipelined to a round trip for bulk. No leases, retries, reclaim, stats or events: nothing a
queue needs beyond getting the job there, running it once and storing its result.

Commands are packed by ``hiredis.pack_command`` and replies parsed by ``hiredis.Reader`` over a
plain asyncio stream (no client library in between), in rq_stream's virtualenv: the same parser
and codec (msgpack) rq_stream uses, so the gap to this row is rq_stream's own cost.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any
from urllib.parse import urlparse

import hiredis
import msgpack
from probe import probe, redis_url

STREAM, GROUP, RESULT = b"limit:stream", b"limit:group", b"limit:result:"
BATCH, BULK_CHUNK, RESULT_TTL_S = 500, 1000, 3600


class Conn:
    """Pipelined RESP over one asyncio stream: send commands, then read that many replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, url: str) -> Conn:
        parsed = urlparse(url)
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port or 6379)
        conn = cls(reader, writer)
        db = (parsed.path or "/0").lstrip("/") or "0"
        if db != "0":
            await conn.call(("SELECT", db))
        return conn

    def send(self, cmds: list[tuple[Any, ...]]) -> None:
        self._writer.write(b"".join(hiredis.pack_command(c) for c in cmds))

    async def reply(self) -> Any:
        while (got := self._parser.gets()) is False:
            data = await self._reader.read(1 << 16)
            if not data:
                raise ConnectionError("redis closed the connection")
            self._parser.feed(data)
        if isinstance(got, hiredis.ReplyError):
            raise got
        return got

    async def call(self, cmd: tuple[Any, ...]) -> Any:
        self.send([cmd])
        return await self.reply()

    def close(self) -> None:
        self._writer.close()


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
        conn.send(cmds)
        for _ in cmds:
            await conn.reply()


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
            self.conn.send([(b"XADD", STREAM, b"*", b"j", payload(kind, 0.0)) for _ in range(size)])
            for _ in range(size):
                await self.conn.reply()

    async def backlog(self) -> int:
        assert self.conn is not None
        return int(await self.conn.call((b"XLEN", STREAM)))

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


if __name__ == "__main__":
    asyncio.run(main())
