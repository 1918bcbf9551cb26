"""Check the package as users get it: build it, install the wheel alone, run it end to end.

``python tests/installed/check_wheel.py`` (``make wheel-check``, part of ``make test``):

1. copies the sources (as in a fresh clone) and builds the sdist, then the wheel from that sdist
   (``python -m build``), so a file missing from either fails here, not at a user's first enqueue;
2. checks that both hold every file of ``src/rq_stream`` (Lua scripts, ``py.typed``, ...);
3. installs the wheel with its runtime dependencies only (no dev extra, not editable) in a fresh
   virtualenv, ``.venv-wheel`` (reused while the wheel's contents are unchanged), plus pytest, to
   run a user's test with the testing kit's plugin as a user would;
4. runs ``e2e.py`` with that virtualenv's interpreter from a scratch directory outside the source
   tree, so ``rq_stream`` can only come from the wheel.

Exits 1 with a message on any failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "rq_stream"
VENV = Path(os.environ.get("RQS_WHEEL_VENV", ROOT / ".venv-wheel"))
STAMP = VENV / ".wheel-sha256"


def fail(message: str) -> NoReturn:
    print(f"wheel-check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        fail(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


_NOT_SOURCE = (".git", ".venv", ".venv-wheel", "build", "dist", "__pycache__", ".mypy_cache",
               ".ruff_cache", ".pytest_cache", ".hypothesis", ".demo")  # fmt: skip


def source_files() -> list[str]:
    """The checkout's files, relative to ROOT: git's list (untracked ones too, ignored ones not)."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if listed.returncode == 0 and listed.stdout:
        return [n for n in listed.stdout.split("\0") if n and (ROOT / n).is_file()]
    return [
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.is_file()
        and not any(part in _NOT_SOURCE or part.endswith(".egg-info") for part in p.parts)
    ]


def clean_copy(files: list[str], dest: Path) -> Path:
    """The sources alone, as in a fresh clone: a stale ``*.egg-info`` or ``build/`` left in the
    checkout by an earlier build would otherwise slip files into the sdist and the wheel."""
    for name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    return dest


def build(tree: Path, out: Path) -> tuple[Path, Path]:
    run([sys.executable, "-m", "build", "--outdir", str(out), str(tree)], "python -m build")
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        fail(f"expected one wheel and one sdist in {out}, found {sorted(os.listdir(out))}")
    return wheels[0], sdists[0]


def check_contents(wheel: Path, sdist: Path, files: list[str]) -> None:
    expected = {n.removeprefix("src/") for n in files if n.startswith("src/rq_stream/")}
    with zipfile.ZipFile(wheel) as z:
        in_wheel = set(z.namelist())
    with tarfile.open(sdist) as t:
        # rq_stream-X.Y.Z/src/rq_stream/... -> rq_stream/...
        in_sdist = {n.split("/", 2)[2] for n in t.getnames() if n.count("/") >= 2}
    for name, present in (("wheel", in_wheel), ("sdist", in_sdist)):
        missing = sorted(expected - present)
        if missing:
            fail(f"the {name} lacks {len(missing)} package file(s): {', '.join(missing)}")
    print(f"wheel-check: {wheel.name} and {sdist.name} hold all {len(expected)} package files")


def digest(wheel: Path) -> str:
    """A hash of the wheel's contents (its zip timestamps change with every build)."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            h.update(name.encode() + b"\0" + z.read(name) + b"\0")
    return h.hexdigest()


def install(wheel: Path) -> None:
    """A fresh VENV with the wheel and its runtime dependencies, unless it already has this one."""
    key = digest(wheel)
    python = VENV / "bin" / "python"
    if python.exists() and STAMP.exists() and STAMP.read_text() == key:
        print(f"wheel-check: reusing {VENV} (the wheel is unchanged)")
        return
    shutil.rmtree(VENV, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(VENV)], "creating the virtualenv")
    env = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore"}
    run([str(python), "-m", "pip", "install", "-q", str(wheel)], "pip install the wheel", env=env)
    run([str(python), "-m", "pip", "install", "-q", "pytest"], "pip install pytest", env=env)
    STAMP.write_text(key)
    print(f"wheel-check: installed {wheel.name} and its runtime dependencies in {VENV}")


def main() -> None:
    if shutil.which("redis-server") is None:
        fail("redis-server is not installed (see .ci/ensure-redis-server)")
    with tempfile.TemporaryDirectory(prefix="rqs-wheel-check-") as tmp:
        scratch = Path(tmp)
        files = source_files()
        tree = clean_copy(files, scratch / "tree")
        wheel, sdist = build(tree, scratch / "dist")
        check_contents(wheel, sdist, files)
        install(wheel)
        work = scratch / "work"
        work.mkdir()
        shutil.copy(Path(__file__).with_name("e2e.py"), work / "e2e.py")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        done = subprocess.run(
            [str(VENV / "bin" / "python"), "e2e.py", str(VENV)], cwd=work, env=env, check=False
        )
        if done.returncode != 0:
            fail(f"the end-to-end check with the installed wheel failed (exit {done.returncode})")
    print("wheel-check: ok")


if __name__ == "__main__":
    main()
