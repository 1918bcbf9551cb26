"""The layout's rules, checked on the source: no import cycle among rq_stream's modules (counting
imports under ``TYPE_CHECKING`` and inside functions), only the package face and the CLI import
the facade, every source file under 400 lines (see ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "rq_stream"
MAX_LINES = 400
FACADE = "rq_stream.client.app"
MAY_IMPORT_FACADE = {"rq_stream", "rq_stream.cli"}  # the package face; the CLI and its modules


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """Every rq_stream module ``name`` imports, wherever the import statement is."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports(name) for name in MODULES}


def find_cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def test_no_import_cycle() -> None:
    cycle = find_cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_package_face_and_the_cli_import_the_facade() -> None:
    importers = {name for name, deps in GRAPH.items() if FACADE in deps}
    allowed = {n for n in importers if n in MAY_IMPORT_FACADE or n.startswith("rq_stream.cli.")}
    assert importers == allowed, f"{sorted(importers - allowed)} import {FACADE}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_source_files_stay_short(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines < MAX_LINES, f"{MODULES[name].relative_to(SRC)} has {lines} lines"


def test_task_and_job_settings_name_their_options_fields() -> None:
    """The keyword arguments ``@app.task`` and ``.options`` accept are the option records'
    fields: written once, in rq_stream/options.py."""
    from dataclasses import fields

    from rq_stream.options import JobOptions, JobSettings, TaskOptions, TaskSettings

    assert set(TaskSettings.__annotations__) == {f.name for f in fields(TaskOptions)}
    assert set(JobSettings.__annotations__) == {f.name for f in fields(JobOptions)}


MAX_FUNCTION_LINES = 50


def test_functions_fit_on_a_screen() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long, long
