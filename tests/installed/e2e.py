"""End-to-end check of an installed rq_stream, run by ``check_wheel.py`` with the wheel
virtualenv's interpreter from a scratch directory outside the source tree.

``python e2e.py VENV`` asserts that ``rq_stream`` is imported from VENV's site-packages, starts a
throwaway redis-server (``rq_stream.testing.RedisServer``), writes an app module ``tmpmod`` with a
task on a streams queue and one on a lists queue, enqueues jobs on both, runs
``rq-stream worker tmpmod:app --burst`` (VENV's console script), checks every result, and checks
that ``rq-stream info tmpmod:app`` lists both queues. Then the sync producers and the testing
kit: ``enqueue_sync`` from plain code, and a user's test file run by pytest with the plugin that
the wheel's ``pytest11`` entry point registers (``rq_bind``, ``run_until_idle``); and an app
with a lifespan, ``Depends``, a middleware and the JSON serializer run by ``rq-stream worker
--processes 2``. Exits 1 with a message on any failure.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any, NoReturn

STREAMS_QUEUE = "wheel_streams"
LISTS_QUEUE = "wheel_lists"
APP = f'''
from rq_stream import RqStream

app = RqStream(prefix="wheelcheck")
app.queue("{LISTS_QUEUE}", backend="lists")


@app.task(queue="{STREAMS_QUEUE}")
async def add(x: int, y: int) -> int:
    return x + y


@app.task(queue="{LISTS_QUEUE}")
def shout(word: str) -> str:
    return word.upper() + "!"
'''
USER_TEST = """
import pytest
import tmpmod
from rq_stream.testing import run_until_idle


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_add_and_shout(rq_bind):
    async with rq_bind(tmpmod.app) as app:
        total = await tmpmod.add.enqueue(1, 2)
        word = await tmpmod.shout.enqueue("kit")
        report = await run_until_idle(app, raise_on_failure=True)
        assert (await total.result(), await word.result()) == (3, "KIT!")
    assert report.completed == 2
"""
INTEGRATED = """
import os
from collections.abc import AsyncIterator
from typing import Any

from rq_stream import Depends, JobContext, Middleware, RqStream, WorkerInfo, worker_state
from rq_stream.serializers import JsonSerializer

LOG = os.environ["WHEEL_LOG"]


def note(line: str) -> None:
    with open(LOG, "a") as f:
        f.write(line + "\\n")


class Notes(Middleware):
    async def on_worker_start(self, worker: WorkerInfo) -> None:
        note("worker start")

    async def on_success(self, job: JobContext, result: Any, duration_s: float) -> None:
        note(f"success {result}")

    async def on_worker_stop(self, worker: WorkerInfo) -> None:
        note("worker stop")


app = RqStream(prefix="wheelcheck2", serializer=JsonSerializer(), middleware=[Notes()])


@app.lifespan
async def lifespan(worker: WorkerInfo) -> AsyncIterator[dict[str, int]]:
    note("open")
    yield {"base": 100}
    note("close")


def base(state: dict[str, int] = Depends(worker_state)) -> int:
    return state["base"]


@app.task
async def plus(x: int, b: int = Depends(base)) -> int:
    return b + x
"""
WORDS = ["alpha", "beta", "gamma"]
SUBPROCESS_LIMIT_S = 120.0  # a hang guard, not a timing assertion


def fail(message: str) -> NoReturn:
    print(f"wheel-check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check_origin(venv: Path) -> Path:
    """rq_stream comes from VENV's site-packages; returns the venv's bin directory."""
    import rq_stream

    if Path(sys.prefix).resolve() != venv.resolve():
        fail(f"running in {sys.prefix}, not in the wheel virtualenv {venv}")
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    origin = Path(rq_stream.__file__).resolve()
    if site not in origin.parents:
        fail(f"rq_stream was imported from {origin}, not from the wheel's site-packages {site}")
    print(f"wheel-check: rq_stream {rq_stream.__version__} imported from {origin.parent}")
    return Path(sys.executable).parent


def run(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBPROCESS_LIMIT_S)
    except subprocess.TimeoutExpired:
        fail(f"`{' '.join(cmd[1:])}` did not finish in {SUBPROCESS_LIMIT_S:.0f}s")
    if done.returncode != 0:
        fail(f"`{' '.join(cmd[1:])}` exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


async def enqueue_work_check(rq_stream_bin: Path) -> None:
    tmpmod: Any = importlib.import_module("tmpmod")
    async with tmpmod.app:
        sums = [await tmpmod.add.enqueue(i, 10 * i) for i in range(5)]
        shouts = [await tmpmod.shout.enqueue(w) for w in WORDS]
        if {j.queue for j in sums} != {STREAMS_QUEUE} or {j.queue for j in shouts} != {LISTS_QUEUE}:
            fail("the jobs were not enqueued on the queues their tasks name")
        await asyncio.to_thread(run, [str(rq_stream_bin), "worker", "tmpmod:app", "--burst"])
        got_sums = [await j.result(timeout_s=30) for j in sums]
        got_shouts = [await j.result(timeout_s=30) for j in shouts]
    if got_sums != [11 * i for i in range(5)]:
        fail(f"wrong results on the streams queue: {got_sums}")
    if got_shouts != [w.upper() + "!" for w in WORDS]:
        fail(f"wrong results on the lists queue: {got_shouts}")
    print(f"wheel-check: {len(sums)} jobs on a streams queue, {len(shouts)} on a lists queue: ok")


def sync_check(rq_stream_bin: Path) -> None:
    """``enqueue_sync`` and a blocking ``result`` with no event loop in this thread."""
    tmpmod: Any = importlib.import_module("tmpmod")
    job = tmpmod.add.enqueue_sync(20, 22)
    run([str(rq_stream_bin), "worker", "tmpmod:app", "--burst"])
    if (got := job.result(timeout_s=30)) != 42:
        fail(f"enqueue_sync: wrong result {got!r}")
    tmpmod.app.sync.close()
    print("wheel-check: enqueue_sync and SyncJob.result from sync code: ok")


def integration_check(rq_stream_bin: Path) -> None:
    """Lifespan, Depends, a middleware and the JSON serializer from the installed wheel, run by
    its CLI with two processes."""
    Path("tmpmod2.py").write_text(INTEGRATED)
    log = Path("integration.log").resolve()
    os.environ["WHEEL_LOG"] = str(log)
    tmpmod2: Any = importlib.import_module("tmpmod2")
    jobs = [tmpmod2.plus.enqueue_sync(i) for i in range(4)]
    run([str(rq_stream_bin), "worker", "tmpmod2:app", "--burst", "--processes", "2"])
    got = sorted(j.result(timeout_s=30) for j in jobs)
    lines = log.read_text().splitlines()
    if got != [100, 101, 102, 103] or sorted(x for x in lines if x.startswith("success")) != [
        f"success {n}" for n in got
    ]:
        fail(f"integration: results {got}, hook log {lines}")
    for line in ("open", "close", "worker start", "worker stop"):
        if lines.count(line) != 2:
            fail(f"integration: {line!r} should be logged once per process: {lines}")
    tmpmod2.app.sync.close()
    print("wheel-check: lifespan, Depends, middleware, JSON under --processes 2: ok")


def plugin_check() -> None:
    """The pytest plugin is registered by the wheel's entry point and runs a user's test."""
    from importlib.metadata import entry_points

    found = [e.value for e in entry_points(group="pytest11") if e.name == "rq_stream"]
    if found != ["rq_stream.testing.pytest_plugin"]:
        fail(f"the wheel registers no pytest11 entry point rq_stream (found {found})")
    Path("test_user.py").write_text(USER_TEST)
    out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"])
    if "1 passed" not in out:
        fail(f"the user's test with the rq_stream pytest plugin did not pass:\n{out}")
    print("wheel-check: a user's test with the pytest plugin and run_until_idle: ok")


def main() -> None:
    if len(sys.argv) != 2:
        fail("usage: e2e.py VENV")
    bin_dir = check_origin(Path(sys.argv[1]))
    rq_stream_bin = bin_dir / "rq-stream"
    if not rq_stream_bin.is_file():
        fail(f"the wheel installed no rq-stream console script in {bin_dir}")
    Path("tmpmod.py").write_text(APP)
    sys.path.insert(0, os.getcwd())
    from rq_stream.testing import RedisServer

    with RedisServer() as server:
        os.environ["REDIS_URL"] = server.url  # the app and the rq-stream commands read it
        asyncio.run(enqueue_work_check(rq_stream_bin))
        info = run([str(rq_stream_bin), "info", "tmpmod:app"])
        sync_check(rq_stream_bin)
        integration_check(rq_stream_bin)
    missing = [q for q in (STREAMS_QUEUE, LISTS_QUEUE) if q not in info]
    if missing:
        fail(f"`rq-stream info tmpmod:app` does not list {missing}:\n{info}")
    print("wheel-check: `rq-stream info` lists both queues: ok")
    plugin_check()


if __name__ == "__main__":
    main()
