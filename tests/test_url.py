"""One URL, one truth: setting ``app.url`` (the CLI's ``--url``) re-derives everything the URL
decides (topology, clients, script runner, the wait_replicas check)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

from rq_stream import ConnectionFailed, RqStream, Worker
from rq_stream.connect.lean import LeanClient
from rq_stream.errors import ConfigurationError
from rq_stream.scripts import LeanRunner, RedisRunner
from tests.cluster_fixtures import LocalCluster

ROOT = Path(__file__).resolve().parent.parent


def test_setting_the_url_re_derives_the_topology(redis_url: str) -> None:
    app = RqStream(redis_url, prefix="p")
    assert app.topology.kind == "single"
    app.url = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001/"
    assert app.topology.kind == "cluster"
    assert app.topology.nodes == (("127.0.0.1", 7000), ("127.0.0.1", 7001))
    app.url = "redis+sentinel://127.0.0.1:26379/mymaster/2"
    assert (app.topology.kind, app.topology.db) == ("sentinel", 2)


@pytest.mark.parametrize(
    "url", ["rediss+cluster://h:1/?ssl_ca_certs=/ca.pem", "redis+sentinel://h:1/m/0?x=1"]
)
def test_options_on_cluster_and_sentinel_urls_are_refused(url: str) -> None:
    kind = "cluster" if "cluster" in url else "sentinel"
    with pytest.raises(ConnectionFailed) as err:
        RqStream(url)
    assert str(err.value) == (
        f"invalid Redis URL {url!r}: ?options are not supported on {kind} URLs yet (TLS there "
        "verifies against the system CAs)"
    )


def test_a_bad_url_set_later_is_refused_and_nothing_changes(redis_url: str) -> None:
    app = RqStream(redis_url, prefix="p")
    with pytest.raises(Exception, match="invalid Redis URL 'http://h:1/'"):
        app.url = "http://h:1/"
    assert app.url == redis_url and app.topology.kind == "single"


def test_wait_replicas_with_a_cluster_url_set_later_is_refused(redis_url: str) -> None:
    app = RqStream(redis_url, prefix="p", wait_replicas=1)
    with pytest.raises(ConfigurationError) as err:
        app.url = "redis+cluster://127.0.0.1:7000/"
    assert str(err.value) == (
        "wait_replicas is not supported on Redis Cluster yet (wait_replicas=1, url "
        "redis+cluster://127.0.0.1:7000/): use wait_replicas=0 there, or a single server or "
        "Sentinel URL"
    )
    assert app.url == redis_url and app.topology.kind == "single"
    cluster = RqStream("redis+cluster://127.0.0.1:7000/", prefix="p")
    with pytest.raises(ConfigurationError, match="not supported on Redis Cluster yet"):
        cluster.wait_replicas = 1
    with pytest.raises(ConfigurationError, match="wait_replicas must be >= 0, got -1"):
        app.wait_replicas = -1


async def test_the_url_cannot_change_under_live_clients(redis_url: str) -> None:
    app = RqStream(redis_url, prefix="p")
    async with app:
        with pytest.raises(ConfigurationError) as err:
            app.url = "redis+cluster://127.0.0.1:7000/"
        assert str(err.value) == (
            f"cannot change url while the app has clients for {redis_url}: await app.close() first"
        )
        with pytest.raises(ConfigurationError, match="cannot change wait_replicas while"):
            app.wait_replicas = 1
    app.url = "redis+cluster://127.0.0.1:7000/"  # closed: allowed
    assert app.topology.kind == "cluster"


@pytest.mark.slow
async def test_single_url_app_given_a_cluster_url_runs_a_job(
    redis_url: str, redis_cluster: LocalCluster, prefix: str
) -> None:
    app = RqStream(redis_url, prefix=prefix)

    @app.task
    async def add(x: int, y: int) -> int:
        return x + y

    async with app:  # used on the single server first: the runner there is the lean client
        assert isinstance(app.scripts._runner, LeanRunner)
    app.url = redis_cluster.url
    async with app:
        assert isinstance(app.scripts._runner, RedisRunner)
        job = await add.enqueue(2, 3)
        await Worker(app, burst=True, handle_signals=False).run()
        assert await job.result(timeout_s=10) == 5
    # Everything went to the cluster: the single server never saw this prefix.
    single = Redis.from_url(redis_url)
    try:
        assert await single.keys(f"{prefix}*") == []
    finally:
        await single.aclose()
    app.url = redis_url  # and back: the lean client again
    assert isinstance(app.lean, LeanClient)
    await app.close()


def cli(url_env: str, prefix: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "rq_stream", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "REDIS_URL": url_env,
            "RQ_STREAM_PREFIX": prefix,
            "PYTHONPATH": str(ROOT),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip()


@pytest.mark.slow
def test_cli_url_flag_points_an_app_at_a_cluster(
    redis_url: str, redis_cluster: LocalCluster, prefix: str
) -> None:
    """The app module builds its app from REDIS_URL (the single server); --url wins."""
    app, url = "tests.apps.cli_app:app", redis_cluster.url
    job_id = cli(redis_url, prefix, "enqueue", app, "add", "--args", "[2, 3]", "--url", url)
    cli(redis_url, prefix, "worker", app, "--burst", "--log-level", "WARNING", "--url", url)
    assert cli(redis_url, prefix, "result", app, job_id, "--url", url) == "5"
