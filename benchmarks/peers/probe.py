"""What every benchmark job calls, in every library: counts completions, notes their times and
the worker's peak RSS, and reports them to the benchmark's Redis from a background thread.

Jobs only touch process memory (``hit()`` is a counter and two floats), so the per-job cost of
the measurement is the same for every library and adds no Redis round trip per job. A daemon
thread flushes every 20 ms with one pipelined write: ``INCRBY bench:done``, this process's first
and last completion times, its VmHWM, and latency samples. The orchestrator waits on
``bench:done`` and reads the rest.

Dependency-free on purpose (a tiny RESP client over a socket): it runs in five virtualenvs, one
of which (streaq) has no redis-py at all.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlparse

DONE = "bench:done"
FIRST = "bench:first"
LAST = "bench:last"
RSS = "bench:rss"
LATENCY = "bench:lat"


def redis_url() -> str:
    url = os.environ.get("BENCH_REDIS_URL")
    if not url:
        raise RuntimeError("BENCH_REDIS_URL is not set (benchmarks/run.py sets it)")
    return url


class Resp:
    """A minimal blocking RESP2 client: enough for INCRBY, HSET, RPUSH, GET and friends."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self._sock = socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._file = self._sock.makefile("rb")
        db = (parsed.path or "/0").lstrip("/") or "0"
        if db != "0":
            self.call(("SELECT", db))

    @staticmethod
    def _encode(cmd: tuple[Any, ...]) -> bytes:
        out = [b"*%d\r\n" % len(cmd)]
        for part in cmd:
            data = part if isinstance(part, bytes) else str(part).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    def _read(self) -> Any:
        line = self._file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._file.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply from redis: {line!r}")

    def pipeline(self, cmds: list[tuple[Any, ...]]) -> list[Any]:
        self._sock.sendall(b"".join(self._encode(c) for c in cmds))
        return [self._read() for _ in cmds]

    def call(self, cmd: tuple[Any, ...]) -> Any:
        return self.pipeline([cmd])[0]

    def close(self) -> None:
        self._file.close()
        self._sock.close()


def peak_rss_kb() -> int:
    """VmHWM of this process (peak resident set), in KiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class Probe:
    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: deque[float] = deque()
        self._flushed = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def hit(self, enqueued_at: float = 0.0, started_at: float = 0.0) -> None:
        """One job ran. ``enqueued_at`` (time.time() at enqueue) adds a latency sample;
        ``started_at`` is when the job began, for jobs that take time."""
        now = time.time()
        if self._thread is None:
            self._start()
            self.first = started_at or now
        if enqueued_at > 0:
            self.latencies.append(now - enqueued_at)
        self.count += 1
        self.last = now

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="bench-probe", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        client = Resp(redis_url())
        pid = os.getpid()
        while True:
            time.sleep(self.interval_s)
            count = self.count
            lat = [self.latencies.popleft() for _ in range(len(self.latencies))]
            if count == self._flushed and not lat:
                continue
            cmds: list[tuple[Any, ...]] = [
                ("HSET", FIRST, pid, repr(self.first)),
                ("HSET", LAST, pid, repr(self.last)),
                ("HSET", RSS, pid, peak_rss_kb()),
            ]
            if lat:
                cmds.append(("RPUSH", LATENCY, *(repr(x) for x in lat)))
            # The counter goes last so that whoever sees it complete also sees the times.
            cmds.append(("INCRBY", DONE, count - self._flushed))
            client.pipeline(cmds)
            self._flushed = count


probe = Probe()


def wait_done(client: Resp, at_least: int, timeout_s: float) -> int:
    """Poll ``bench:done`` until it reaches ``at_least``; returns the last value seen."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        seen = int(client.call(("GET", DONE)) or 0)
        if seen >= at_least:
            break
        time.sleep(0.01)
    return seen
