"""Redis Cluster: URLs, slot discipline, cross-queue reads, blocking reads, pub/sub, resharding.

The contract suite (tests/contract) also runs both backends on the same session cluster.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from rq_stream import ConnectionFailed, Job, RqStream, Worker
from rq_stream.client import admin as admin_module
from rq_stream.connect.topology import cluster_url, parse, sentinel_url
from rq_stream.errors import ConfigurationError
from rq_stream.scripts import RedisRunner
from tests.cluster_fixtures import LocalCluster, command

QUEUES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]


# ---------------------------------------------------------------------- URLs (no server)
def test_urls_name_each_topology() -> None:
    t = parse("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001/")
    assert (t.kind, t.nodes, t.username, t.password) == (
        "cluster",
        (("10.0.0.1", 7000), ("10.0.0.2", 7001)),
        "u",
        "p@ss",
    )
    s = parse("rediss+sentinel://h1:26379,h2:26380/mymaster/2")
    assert (s.kind, s.service_name, s.db, s.ssl) == ("sentinel", "mymaster", 2, True)
    assert parse("redis://127.0.0.1:6379/0").kind == "single"
    assert cluster_url(["a:1", ("b", 2)]) == "redis+cluster://a:1,b:2/"
    assert sentinel_url([("s", 26379)], "m") == "redis+sentinel://s:26379/m/0"
    app = RqStream(cluster_nodes=["127.0.0.1:7000"], prefix="p")
    assert app.url == "redis+cluster://127.0.0.1:7000/" and app.topology.kind == "cluster"
    app = RqStream(sentinels=[("127.0.0.1", 26379)], service_name="mymaster", prefix="p")
    assert app.url == "redis+sentinel://127.0.0.1:26379/mymaster/0"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster:///", "no host:port listed"),
        ("redis+cluster://h:notaport/", "'h:notaport' is not host:port"),
        ("redis+cluster://h:1/3", "a cluster has only database 0"),
        ("redis+sentinel://h:26379/", "name the service after the Sentinels"),
        ("redis+sentinel://h:26379/m/x", "the database 'x' is not a number"),
        ("http://h:1/", "redis+cluster:// or redis+sentinel://"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ConnectionFailed, match="invalid Redis URL") as err:
        RqStream(url)
    assert message in str(err.value)


def test_conflicting_arguments_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="give only one of url, cluster_nodes"):
        RqStream("redis://h:1/0", cluster_nodes=["h:2"])
    with pytest.raises(ConfigurationError, match="sentinels need the service_name"):
        RqStream(sentinels=["h:26379"])
    with pytest.raises(ConfigurationError, match="not supported on Redis Cluster yet"):
        RqStream(cluster_nodes=["h:1"], wait_replicas=1)


# ---------------------------------------------------------------------- on a real cluster
def node_of(cluster: LocalCluster, key: str) -> int:
    """The port of the master serving ``key``'s slot."""
    slot = key_slot(key.encode())
    for line in command(cluster.ports[0], "CLUSTER", "NODES").splitlines():
        parts = line.split()
        port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
        for piece in parts[8:]:
            lo, _, hi = piece.partition("-")
            if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                return port
    raise AssertionError(f"no node serves slot {slot}")


@pytest.mark.slow
async def test_queues_spread_over_nodes_and_everything_runs(
    redis_cluster: LocalCluster, prefix: str
) -> None:
    """Every script is single-slot (redis-py refuses EVAL/EVALSHA whose keys span slots), and
    the cross-queue reads (info, workers, dead letters of every queue) work across nodes."""
    app = RqStream(redis_cluster.url, prefix=prefix)
    for i, q in enumerate(QUEUES):
        app.queue(q, backend="lists" if i % 2 else "streams")
    nodes = {node_of(redis_cluster, app.keys.queue(q).stream) for q in QUEUES}
    assert len(nodes) >= 2, "six queues should land on more than one master"

    @app.task(retries=0)
    async def work(i: int) -> int:
        if i % 10 == 0:
            raise ValueError(f"job {i} fails")
        async with app.lock(f"lock:{i % 3}", ttl_s=5):
            return i * 2

    @app.task(unique=True, queue=QUEUES[1])  # a lists queue: finishing frees the unique key
    async def once(x: int) -> int:
        return x

    @app.cached(ttl_s=60)
    async def square(x: int) -> int:
        return x * x

    limiter = app.rate_limiter("api", "1000/s")
    async with app:
        assert isinstance(app.scripts._runner, RedisRunner)
        jobs = [await work.options(queue=QUEUES[i % len(QUEUES)]).enqueue(i) for i in range(60)]
        expected = {job: i * 2 for i, job in enumerate(jobs) if i % 10}
        bulk = await app.enqueue_many([work.options(queue=q).call(1) for q in QUEUES])
        expected.update((job, 2) for job in bulk)
        a, b = await once.enqueue(7), await once.enqueue(7)
        assert a.id == b.id
        expected[a] = 7
        assert await square(4) == 16 and await square(4) == 16
        assert square.stats.hits == 1
        assert await limiter.try_acquire("user")
        worker = Worker(app, queues=QUEUES, concurrency=20, handle_signals=False)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(worker.run)
                got = {j: await j.result(timeout_s=10) for j in expected}
                # while the worker is alive
                snapshot = await admin_module.gather(app.context, app.task_queues())
                worker.request_stop()
        assert got == expected
        assert {q.name for q in snapshot.queues} >= set(QUEUES)
        assert len(snapshot.workers) == 1 and sorted(snapshot.workers[0].queues) == sorted(QUEUES)
        dead = [letter for q in QUEUES for letter in await app.dead_letters(q).list()]
        assert len(dead) == 6 and all(d.exc_type == "ValueError" for d in dead)
        final = await admin_module.gather(app.context, app.task_queues())
        assert sum(q.totals["completed"] for q in final.queues) == 54 + 6 + 1
        assert (await once.enqueue(7)).id != a.id  # the first one finished: its key was freed
        assert sum(q.dead for q in final.queues) == 6


@pytest.mark.slow
async def test_blocking_reads_do_not_hold_up_short_commands(
    redis_cluster: LocalCluster, prefix: str
) -> None:
    app = RqStream(redis_cluster.url, prefix=prefix)
    app.queue("quiet", backend="lists")

    @app.task(queue="busy")
    async def noop() -> None:
        return None

    async with app:
        await app.backend("busy").prepare()
        streams, lists = app.backend("busy", "c1"), app.backend("quiet", "c2")
        assert isinstance(app.blocking_redis, RedisCluster)
        assert app.blocking_redis is not app.redis
        returned: list[str] = []

        async def read_quiet() -> None:  # nothing is ever enqueued there: blocks its whole 8 s
            await lists.fetch(1, 8_000)
            returned.append("quiet")

        with anyio.fail_after(30):  # a guard against hanging, not a measure
            async with anyio.create_task_group() as tg:
                for _ in range(5):  # more blocked readers than a small pool would hold
                    tg.start_soon(streams.fetch, 1, 8_000)
                    tg.start_soon(read_quiet)
                await anyio.sleep(0.2)
                for _ in range(20):
                    await noop.enqueue()
                    await app.redis.get(f"{prefix}:probe")
                # The short commands went through while every quiet reader was still blocked
                # (behind the blocked reads, they would have waited for them to return).
                assert returned == []
                tg.cancel_scope.cancel()


@pytest.mark.slow
async def test_results_arrive_by_pubsub_from_every_node(
    redis_cluster: LocalCluster, prefix: str
) -> None:
    """PUBLISH is broadcast on a cluster: one subscription connection hears every queue."""
    app = RqStream(redis_cluster.url, prefix=prefix)

    gate = anyio.Event()

    @app.task
    async def echo(x: int) -> int:
        await gate.wait()
        return x

    async with app:
        jobs = [await echo.options(queue=q).enqueue(i) for i, q in enumerate(QUEUES)]
        worker = Worker(app, queues=QUEUES, concurrency=10, handle_signals=False)
        got: dict[int, Any] = {}

        async def wait_for(i: int) -> None:
            got[i] = await jobs[i].result(timeout_s=30)

        async def awaited(job: Job[Any]) -> bool:  # subscribed and marked awaited
            return await app.redis.hget(app.keys.queue(job.queue).job(job.id), "wt") is not None

        with anyio.fail_after(60):  # a guard against hanging, not a measure
            async with anyio.create_task_group() as tg:
                tg.start_soon(worker.run)
                async with anyio.create_task_group() as waiters:
                    for i in range(len(jobs)):
                        waiters.start_soon(wait_for, i)
                    while not all([await awaited(job) for job in jobs]):
                        await anyio.sleep(0.02)
                    gate.set()  # every outcome now reaches its waiter as a published message
                worker.request_stop()
        assert [got[i] for i in range(len(jobs))] == list(range(len(QUEUES)))


@pytest.mark.slow
async def test_resharding_a_queue_mid_run_loses_nothing(
    redis_cluster: LocalCluster, prefix: str
) -> None:
    """Move a busy queue's slot to another master while a worker runs: MOVED and ASK are
    followed, TRYAGAIN (a script whose keys are split mid-migration) is retried."""
    queue = f"moving-{prefix}"  # a slot of its own: other tests' queues stay where they are
    app = RqStream(redis_cluster.url, prefix=prefix)
    done: set[int] = set()

    @app.task(queue=queue)
    async def job(i: int) -> int:
        await anyio.sleep(0.005)
        done.add(i)
        return i

    async with app:
        await app.enqueue_many([job.call(i) for i in range(400)])
        # Not a burst worker: one that drained the first batch while the slot moved would
        # exit before the second batch arrived.
        worker = Worker(app, queues=[queue], concurrency=10, handle_signals=False)
        stream = app.keys.queue(queue).stream
        with anyio.move_on_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(worker.run)
                await anyio.sleep(0.2)
                await anyio.to_thread.run_sync(migrate_slot, redis_cluster, stream)
                await app.enqueue_many([job.call(i) for i in range(400, 500)])
                while len(done) < 500:
                    await anyio.sleep(0.05)
                worker.request_stop()
        assert done == set(range(500))


def migrate_slot(cluster: LocalCluster, key: str) -> None:
    """Move ``key``'s slot to the other master, key by key, the way redis-cli reshard does."""
    slot = str(key_slot(key.encode()))
    ids = {}
    for line in command(cluster.ports[0], "CLUSTER", "NODES").splitlines():
        parts = line.split()
        ids[int(parts[1].split("@")[0].rsplit(":", 1)[1])] = parts[0]
    src = node_of(cluster, key)
    dst = next(p for p in cluster.ports if p != src)
    command(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
    command(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
    while keys := command(src, "CLUSTER", "GETKEYSINSLOT", slot, "10").split():
        command(src, "MIGRATE", "127.0.0.1", str(dst), "", "0", "5000", "KEYS", *keys)
        time.sleep(0.01)  # let the worker run scripts on a half-moved slot
    for port in (dst, src):
        command(port, "CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
    assert node_of(cluster, key) == dst
