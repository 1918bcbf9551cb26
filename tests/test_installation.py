"""An incomplete installation is reported as one, never as a lost connection to Redis."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rq_stream
from rq_stream.errors import ConnectionFailed, IncompleteInstallation
from rq_stream.scripts import source

PACKAGE = Path(rq_stream.__file__).parent


def test_a_missing_script_names_the_file() -> None:
    with pytest.raises(IncompleteInstallation) as err:
        source("no_such_operation")
    message = str(err.value)
    assert message.startswith("the rq_stream installation is incomplete: the Lua script ")
    assert "scripts/no_such_operation.lua is missing from the package" in message
    assert "reinstall rq_stream" in message
    assert not isinstance(err.value, (ConnectionFailed, OSError))


BROKEN_APP = """
import asyncio, sys
sys.path.insert(0, {site!r})
import rq_stream
from rq_stream import RqStream, Worker
assert rq_stream.__file__.startswith({site!r}), rq_stream.__file__

app = RqStream({url!r}, prefix={prefix!r})
app.queue("lq", backend="lists")

@app.task(queue={queue!r})
async def add(x: int, y: int) -> int:
    return x + y

def leaves(exc):  # the errors inside (nested) exception groups of task groups
    inner = getattr(exc, "exceptions", None)
    return [leaf for e in inner for leaf in leaves(e)] if inner else [exc]

async def main() -> None:
    async with app:
        for attempt in (lambda: add.enqueue(1, 2), Worker(app, burst=True).run):
            try:
                await attempt()
            except Exception as exc:
                for leaf in leaves(exc):
                    print(f"RAISED {{type(leaf).__name__}}: {{leaf}}")
            else:
                print("RAISED nothing")
            print("DONE")

asyncio.run(main())
"""


@pytest.mark.parametrize("queue", ["sq", "lq"])
def test_missing_lua_include_is_an_incomplete_installation(
    tmp_path: Path, redis_url: str, prefix: str, queue: str
) -> None:
    """The bug of a wheel without scripts/lib/: the first enqueue said "lost connection to
    Redis" (the FileNotFoundError was taken for a socket error) and a worker would have backed
    off forever as if Redis were down. Both now stop with the file's name."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "rq_stream", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "rq_stream" / "scripts" / "lib" / "now.lua").unlink()
    code = BROKEN_APP.format(site=str(site), url=redis_url, prefix=prefix, queue=queue)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,  # a hang guard
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [x for x in done.stdout.splitlines() if x.startswith(("RAISED ", "DONE"))]
    enqueue, worker = "\n".join(lines).split("DONE")[:2]  # each attempt's errors
    for raised in (enqueue, worker):
        errors = raised.strip().splitlines()
        assert errors, done.stdout
        for line in errors:
            assert line.startswith(
                "RAISED IncompleteInstallation: the rq_stream installation is incomplete: the Lua "
                "script scripts/lib/now.lua is missing from the package"
            ), done.stdout
