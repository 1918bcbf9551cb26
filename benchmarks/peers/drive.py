"""The client side of a benchmark case, run inside the library's own virtualenv.

    python drive.py MODULE enqueue --kind noop --n 20000 --mode one|bulk
    python drive.py MODULE feed --n 500 --rate 200

Prints one JSON object on stdout: the timed figure, a note, and what Redis holds afterwards
(for the orchestrator to verify). ``{"unavailable": "..."}`` when the library cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from typing import Any, Protocol

from probe import Resp, redis_url, wait_done


class Client(Protocol):
    bulk_note: str

    async def start(self) -> None: ...
    async def enqueue(self, kind: str, enqueued_at: float = 0.0) -> None: ...
    async def enqueue_bulk(self, kind: str, n: int) -> None: ...
    async def backlog(self) -> int: ...
    async def close(self) -> None: ...


async def gather_bulk(client: Client, kind: str, n: int, chunk: int = 1000) -> None:
    """For libraries without a bulk API: ``chunk`` concurrent enqueues at a time."""
    for start in range(0, n, chunk):
        await asyncio.gather(*(client.enqueue(kind) for _ in range(min(chunk, n - start))))


async def enqueue(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    if args.mode == "bulk":
        await client.enqueue_bulk(args.kind, args.n)
    else:
        for _ in range(args.n):
            await client.enqueue(args.kind)
    seconds = time.perf_counter() - t0
    note = client.bulk_note if args.mode == "bulk" else ""
    return {"seconds": seconds, "note": note, "backlog": await client.backlog()}


async def feed(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    """Warm the worker up with one job, then enqueue ``n`` at ``rate`` per second, each
    carrying its enqueue time (the job records start minus that)."""
    resp = Resp(redis_url())
    await client.enqueue("stamp", 0.0)
    seen = await asyncio.to_thread(wait_done, resp, 1, args.ready_timeout)
    if seen < 1:
        return {"error": f"the worker ran no warm-up job within {args.ready_timeout:.0f} s"}
    t0 = time.perf_counter()
    for i in range(args.n):
        delay = t0 + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await client.enqueue("stamp", time.time())
    resp.close()
    return {"seconds": time.perf_counter() - t0}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    try:
        module = importlib.import_module(args.module)
        client: Client = module.Client()
        await client.start()
    except Exception as exc:
        if "not available" in str(exc):
            return {"unavailable": f"{type(exc).__name__}: {exc}"}
        raise
    try:
        return await (enqueue if args.command == "enqueue" else feed)(client, args)
    finally:
        await client.close()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("module")
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("enqueue")
    e.add_argument("--kind", choices=["noop", "sleep"], default="noop")
    e.add_argument("--n", type=int, required=True)
    e.add_argument("--mode", choices=["one", "bulk"], default="one")
    f = sub.add_parser("feed")
    f.add_argument("--n", type=int, required=True)
    f.add_argument("--rate", type=float, default=200.0)
    f.add_argument("--ready-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    result = asyncio.run(main(parse(sys.argv[1:])))
    print(json.dumps(result))
