"""Prometheus metrics, scraped over HTTP from ``rq-stream worker --metrics-port`` (one process,
and ``--processes 2`` summed by the supervisor) while jobs run, checked against what was done;
the queue gauges with no worker; a Redis outage during a scrape; the producer's ASGI app; a
plain worker that never imports prometheus_client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from rq_stream import RqStream
from rq_stream.metrics import Metrics
from rq_stream.testing import RedisServer
from rq_stream.testing.server import free_port

from .metrics_scrape import Samples, scrape, value, wait_for
from .test_supervisor import Supervised
from .test_supervisor import supervise as supervise

APP = "tests.apps.metrics_app:app"
OK, FLAKY, DOOMED = 40, 3, 2


def producer(redis_url: str, prefix: str) -> RqStream:
    """An app with the same task names as tests/apps/metrics_app.py, plus one only it knows."""
    p = RqStream(redis_url, prefix=prefix)
    for name in ("ok", "flaky", "doomed", "slow"):
        p.task(name=f"tests.apps.metrics_app.{name}")(lambda *a: None)
    p.task(name="ghost")(lambda: None)
    return p


async def enqueue_work(p: RqStream) -> None:
    t = p.tasks
    calls = [t["tests.apps.metrics_app.ok"].call(i) for i in range(OK)]
    calls += [t["tests.apps.metrics_app.flaky"].call(i) for i in range(FLAKY)]
    calls += [t["tests.apps.metrics_app.doomed"].call(i) for i in range(DOOMED)]
    await p.enqueue_many(calls)


def check_counts(s: Samples, ghosts: int = 0) -> None:
    """The counters against what enqueue_work did (and ``ghosts`` jobs of an unknown task)."""
    jobs = {"ok": OK, "flaky": FLAKY, "doomed": DOOMED}
    for task, n in jobs.items():  # flaky jobs start twice; the queue wait is the first start's
        attempts = 2 * n if task == "flaky" else n
        assert value(s, "rq_stream_jobs_started_total", task=task) == attempts
        assert value(s, "rq_stream_job_duration_seconds_count", task=task) == attempts
        assert value(s, "rq_stream_job_queue_wait_seconds_count", task=task) == n
    assert value(s, "rq_stream_jobs_succeeded_total", task="ok") == OK
    assert value(s, "rq_stream_jobs_succeeded_total", task="flaky") == FLAKY
    assert value(s, "rq_stream_jobs_failed_total", task="flaky") == FLAKY
    assert value(s, "rq_stream_jobs_failed_total", task="doomed") == DOOMED
    assert value(s, "rq_stream_jobs_retried_total") == FLAKY
    assert value(s, "rq_stream_jobs_dead_lettered_total", task="doomed") == DOOMED
    assert value(s, "rq_stream_jobs_dead_lettered_total", task="_unknown") == ghosts
    assert value(s, "rq_stream_queue_dead_letters", queue="default") == DOOMED + ghosts
    assert value(s, "rq_stream_queue_depth", queue="default") == 0
    assert value(s, "rq_stream_up") == 1


def all_done(s: Samples, ghosts: int = 0) -> bool:
    return (
        value(s, "rq_stream_jobs_succeeded_total") >= OK + FLAKY
        and value(s, "rq_stream_jobs_dead_lettered_total") >= DOOMED + ghosts
    )


async def test_queue_gauges_with_no_worker_and_the_producer_counters(
    redis_url: str, prefix: str
) -> None:
    p = producer(redis_url, prefix)
    metrics = Metrics(p)
    port = free_port()
    server = metrics.serve(port, "127.0.0.1")
    try:
        async with p:
            await enqueue_work(p)
            await p.tasks["tests.apps.metrics_app.ok"].options(delay_s=600).enqueue(1)
            s = scrape(port)
    finally:
        server.shutdown()
        metrics.close()
    assert value(s, "rq_stream_jobs_enqueued_total", task="ok") == OK + 1
    assert value(s, "rq_stream_jobs_enqueued_total", task="doomed") == DOOMED
    assert value(s, "rq_stream_queue_depth", queue="default") == OK + FLAKY + DOOMED
    assert value(s, "rq_stream_queue_delayed", queue="default") == 1
    assert value(s, "rq_stream_queue_running", queue="default") == 0
    assert value(s, "rq_stream_queue_lag_seconds", queue="default") >= 0
    assert value(s, "rq_stream_workers_alive") == 0
    assert value(s, "rq_stream_up") == 1
    assert value(s, "rq_stream_jobs_started_total") == 0


async def test_the_lag_is_the_oldest_waiting_jobs_age_on_both_backends(
    redis_url: str, prefix: str
) -> None:
    p = producer(redis_url, prefix)
    p.queue("bulk", backend="lists")
    metrics = Metrics(p)
    port = free_port()
    server = metrics.serve(port, "127.0.0.1")
    ok = p.tasks["tests.apps.metrics_app.ok"]
    try:
        async with p:
            s = scrape(port)
            assert value(s, "rq_stream_queue_lag_seconds", queue="bulk") == 0  # nothing waits
            await ok.enqueue(1)
            await ok.options(queue="bulk").enqueue(2)
            await anyio.sleep(0.5)
            await ok.enqueue(3)  # younger jobs behind do not change the lag
            s = scrape(port)
    finally:
        server.shutdown()
        metrics.close()
    for queue in ("default", "bulk"):
        assert 0.5 <= value(s, "rq_stream_queue_lag_seconds", queue=queue) < 60, queue
    assert value(s, "rq_stream_queue_depth", queue="bulk") == 1


def names_follow_conventions(s: Samples) -> None:
    for name in s:
        assert name.startswith("rq_stream_"), name
    counters = [n for n in s if n.startswith("rq_stream_jobs_") and not n.endswith("_created")]
    assert counters and all(n.endswith("_total") for n in counters), counters
    timed = [n for n in s if "duration" in n or "wait" in n or "lag" in n]
    assert timed and all("_seconds" in n for n in timed), timed


async def test_one_worker_process(
    supervise: Callable[..., Supervised], redis_url: str, prefix: str
) -> None:
    p = producer(redis_url, prefix)
    async with p:
        await enqueue_work(p)
        await p.tasks["ghost"].enqueue()  # this worker does not know it: dead-lettered
        port = free_port()
        w = supervise(APP, "--concurrency", "4", "--metrics-port", str(port),
                      "--metrics-host", "127.0.0.1")  # fmt: skip
        s = wait_for(port, lambda s: all_done(s, ghosts=1), log=w.log)
        job = await p.tasks["tests.apps.metrics_app.slow"].enqueue(30)  # a job still running
        s = wait_for(port, lambda s: value(s, "rq_stream_queue_running") == 1, log=w.log)
        await job.cancel()
        cancelled = wait_for(port, lambda s: value(s, "rq_stream_jobs_cancelled_total") == 1)
        assert value(cancelled, "rq_stream_jobs_cancelled_total", task="slow") == 1
    check_counts(s, ghosts=1)
    names_follow_conventions(s)
    assert value(s, "rq_stream_workers_alive") == 1
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(30) == 0, w.log


async def test_processes_are_summed_and_a_dead_child_keeps_its_counts(
    supervise: Callable[..., Supervised], redis_url: str, prefix: str
) -> None:
    p = producer(redis_url, prefix)
    async with p:
        port = free_port()
        s0 = supervise(APP, "--processes", "2", "--concurrency", "2", "--restart-delay", "0.1",
                       "--metrics-port", str(port), "--metrics-host", "127.0.0.1")  # fmt: skip
        s0.wait_log("worker started", count=2)
        await enqueue_work(p)
        s = wait_for(port, all_done, log=s0.log)
        check_counts(s)
        assert value(s, "rq_stream_workers_alive") == 2
        victim = min(s0.wait_children(lambda pids: len(pids) == 2))
        directory = multiproc_dir(victim)
        os.kill(victim, signal.SIGKILL)
        s0.wait_log("worker process died; restarting it")
        s0.wait_log("worker started", count=3)
        await enqueue_work(p)
        s = wait_for(port, lambda s: value(s, "rq_stream_jobs_succeeded_total") >= 2 * (OK + FLAKY)
                     and value(s, "rq_stream_jobs_dead_lettered_total") >= 2 * DOOMED)  # fmt: skip
    assert value(s, "rq_stream_jobs_started_total") == 2 * (OK + 2 * FLAKY + DOOMED)
    assert value(s, "rq_stream_jobs_retried_total") == 2 * FLAKY
    assert value(s, "rq_stream_queue_dead_letters") == 2 * DOOMED
    s0.proc.send_signal(signal.SIGTERM)
    assert s0.proc.wait(30) == 0, s0.log
    assert not exists(directory)  # the supervisor removed it


def multiproc_dir(pid: int) -> str:
    """The PROMETHEUS_MULTIPROC_DIR a worker process was given (from /proc, Linux)."""
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    key = b"PROMETHEUS_MULTIPROC_DIR="
    found = [e[len(key) :].decode() for e in env if e.startswith(key)]
    assert found and Path(found[0]).is_dir(), env
    return found[0]


def exists(path: str) -> bool:
    return Path(path).exists()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


async def test_a_redis_outage_does_not_hang_the_scrape(own_redis: RedisServer) -> None:
    p = producer(own_redis.url, "outage")
    metrics = Metrics(p, timeout_s=0.5)
    port = free_port()
    server = metrics.serve(port, "127.0.0.1")
    proc = own_redis.proc
    assert proc is not None
    try:
        assert value(scrape(port), "rq_stream_up") == 1
        proc.send_signal(signal.SIGSTOP)  # Redis hangs: connections open, no reply
        try:
            s = scrape(port, timeout_s=10)  # answered (the bound), not hung
        finally:
            proc.send_signal(signal.SIGCONT)
        assert value(s, "rq_stream_up") == 0
        assert "rq_stream_queue_depth" not in s
        assert value(scrape(port), "rq_stream_up") == 1  # back
        own_redis.stop()
        assert value(scrape(port, timeout_s=10), "rq_stream_up") == 0  # refused
    finally:
        server.shutdown()
        metrics.close()


async def test_the_asgi_app_for_a_producer(redis_url: str, prefix: str) -> None:
    p = producer(redis_url, prefix)
    metrics = Metrics(p, queue_gauges=False)
    transport = httpx.ASGITransport(app=metrics.asgi_app())
    async with p, httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        await p.tasks["ghost"].enqueue()
        reply = await http.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    assert 'rq_stream_jobs_enqueued_total{queue="default",task="ghost"} 1.0' in reply.text


PLAIN = """
import asyncio, sys
from rq_stream import RqStream, Worker
app = RqStream(sys.argv[1], prefix=sys.argv[2])
@app.task
async def ok() -> int:
    return 1
async def main() -> None:
    async with app:
        job = await ok.enqueue()
        await Worker(app, burst=True).run()
        assert await job.result(timeout_s=5) == 1
asyncio.run(main())
assert "prometheus_client" not in sys.modules, "a plain worker imported prometheus_client"
print("clean")
"""


def test_a_plain_worker_never_imports_prometheus_client(redis_url: str, prefix: str) -> None:
    out = subprocess.run([sys.executable, "-c", PLAIN, redis_url, prefix], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "clean", out.stderr
