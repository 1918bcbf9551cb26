"""Network faults between a worker and Redis: a cut link (connections reset, new ones refused)
and a stalled one (nothing answers, sockets stay open). Every job still completes."""

from __future__ import annotations

import anyio
import pytest
from structlog.testing import capture_logs

from rq_stream import RqStream, Worker
from rq_stream.connect.connection import ConnectionSettings
from rq_stream.testing import RedisServer
from tests.netproxy import NetProxy

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fault", ["cut", "stall"])
async def test_worker_rides_out_a_network_fault(
    redis_server: RedisServer, prefix: str, fault: str
) -> None:
    proxy = NetProxy(redis_server.port)
    settings = ConnectionSettings(socket_timeout_s=1.0, connect_timeout_s=1.0, block_ms=300)
    producer = RqStream(redis_server.url, prefix=prefix)
    remote = RqStream(proxy.url, prefix=prefix, connection_settings=settings, lease_s=5)
    for app in (producer, remote):

        @app.task(name="nap", retries=3)
        async def nap(i: int) -> int:
            await anyio.sleep(0.005)
            return i

    try:
        async with producer:
            jobs = await producer.enqueue_many([producer.tasks["nap"].call(i) for i in range(300)])
            worker = Worker(remote, concurrency=10, handle_signals=False, heartbeat_s=0.5)
            with capture_logs() as logs:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(worker.run)
                    while worker.stats.completed < 50:
                        await anyio.sleep(0.01)
                    getattr(proxy, fault)()
                    await anyio.sleep(2.5)
                    proxy.heal()
                    with anyio.fail_after(30):
                        results = [await j.result() for j in jobs]
                    worker.request_stop()
            assert results == list(range(300))
            events = [x["event"] for x in logs]
            assert "redis unavailable; retrying with backoff" in events
            assert "redis reachable again" in events
    finally:
        proxy.close()
        await remote.close()
