"""``wait_replicas`` on one server with a real replica: an acknowledged enqueue survives the
master's death; without the replica, enqueue says the write may be lost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from rq_stream import RqStream, Worker
from rq_stream.client.job import JobStatus
from rq_stream.connect.lean import LeanClient
from rq_stream.errors import ReplicationTimeout
from rq_stream.scripts import RedisRunner, Scripts
from rq_stream.testing import RedisServer


def wait_until(what: str, check: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A master and its replica, synced."""
    with RedisServer(extra_args=["--repl-diskless-sync-delay", "0"]) as master:
        replica = RedisServer(extra_args=["--replicaof", "127.0.0.1", str(master.port)])
        with replica:
            with Redis(port=replica.port) as r:
                link_up = lambda: r.info("replication")["master_link_status"] == "up"  # noqa: E731
                wait_until("the replica to sync", link_up)
            yield master, replica


async def test_an_acknowledged_enqueue_survives_the_master(
    pair: tuple[RedisServer, RedisServer], prefix: str
) -> None:
    master, replica = pair
    app = RqStream(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=10_000)

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    async with app:
        job = await add.enqueue(2, 3)  # returns once the replica has it
    master.kill()  # SIGKILL, no persistence: only the replica has the job now
    with Redis(port=replica.port) as r:
        r.replicaof("NO", "ONE")
    app.url = replica.url
    async with app:
        await Worker(app, burst=True, handle_signals=False).run()
        assert await job.result(timeout_s=10) == 5


async def test_without_the_replica_enqueue_raises_replication_timeout(
    pair: tuple[RedisServer, RedisServer], prefix: str
) -> None:
    master, replica = pair
    replica.kill()
    app = RqStream(master.url, prefix=prefix, wait_replicas=1, wait_timeout_ms=200)

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    async with app:
        with pytest.raises(ReplicationTimeout) as err:
            await add.options(job_id="j1").enqueue(2, 3)
        assert str(err.value) == (
            "the write reached the master but only 0 of 1 replica(s) acknowledged it within "
            "200 ms: it may be lost if the master fails now (enqueue again with the same job_id "
            "to be sure; it is idempotent)"
        )
        assert await app.job("j1").status() is JobStatus.QUEUED  # the master has it


@pytest.mark.parametrize("runner", ["lean", "redis-py"])
async def test_a_write_on_a_demoted_master_raises_replication_timeout(
    pair: tuple[RedisServer, RedisServer], runner: str
) -> None:
    """A failover can demote the master that ran an enqueue before WAIT, which then refuses
    ("WAIT cannot be used with replica instances"): the producer is told to enqueue again,
    like any other unacknowledged write, not given a server error. Seen as a flake in the
    Sentinel failover test; here the script runs on a replica (a read-only one may)."""
    _, replica = pair
    client: LeanClient | AsyncRedis = (
        LeanClient(replica.url) if runner == "lean" else AsyncRedis.from_url(replica.url)
    )
    scripts = Scripts(
        client if isinstance(client, LeanClient) else RedisRunner(client), wait_replicas=1
    )
    keys = ["rqs:{q}:pending", "rqs:{q}:delayed", "rqs:{q}:dead"]
    try:
        with pytest.raises(ReplicationTimeout, match="became a replica"):
            await scripts.run("list_counts", keys, [], durable=True)
    finally:
        await client.aclose()
