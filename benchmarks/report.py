"""The figures' definitions and the markdown report (tables, ratios, targets) of a run."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OURS = ("rq_stream", "rq_stream-lists")
VARIANTS = {
    "rq_stream-mw": "rq_stream",
    "rq_stream-default": "rq_stream",
    "rq_stream-metrics": "rq_stream",
}
"""rq_stream run another way (one no-op middleware; the worker's default concurrency; Prometheus
metrics on), reported against the plain run, never as a peer."""
LIMIT, LIMITS = "limit", ("limit", "limit-redispy")
"""The bare protocol loops (peers/limit_bench.py): the reference rq_stream is measured against,
never a peer."""
NOT_PEERS = (*OURS, *VARIANTS, *LIMITS)
LIMIT_TARGET = 0.60  # no-op at the default concurrency, as a share of the bare loop


@dataclass(frozen=True)
class Metric:
    title: str
    unit: str
    higher_better: bool
    case: str
    digits: int = 0


METRICS = {
    "enqueue_one": Metric("(a) enqueue, one await at a time", "jobs/s", True, "enqueue_one"),
    "enqueue_bulk": Metric("(b) enqueue in bulk", "jobs/s", True, "enqueue_bulk"),
    "noop_1": Metric("(c) no-op jobs, 1 worker process", "jobs/s", True, "noop_1"),
    "noop_n": Metric("(d) no-op jobs, 1 worker process per core", "jobs/s", True, "noop_n"),
    "sleep": Metric("(e) 10 ms jobs at concurrency C", "jobs/s", True, "sleep"),
    "lat_p50": Metric("(f) enqueue-to-start latency p50", "ms", False, "latency", 2),
    "lat_p99": Metric("(f) enqueue-to-start latency p99", "ms", False, "latency", 2),
    "rss_mb": Metric("(g) worker peak RSS (during c)", "MB", False, "noop_1", 1),
    "commands_per_job": Metric(
        "Redis commands per job (during c, incl. inside Lua)", "", False, "noop_1", 1
    ),
}


def cell_values(data: dict[str, Any]) -> dict[str, dict[str, float | str]]:
    """{metric: {lib: median or a reason it has none}}."""
    out: dict[str, dict[str, float | str]] = {}
    for key, m in METRICS.items():
        row: dict[str, float | str] = {}
        for lib in data["libraries"]:
            failed = data["errors"].get(m.case, {}).get(lib)
            got = data["values"].get(key, {}).get(lib)
            if lib in data["unavailable"]:
                row[lib] = "n/a"
            elif failed:
                row[lib] = "FAILED"
            elif got:
                row[lib] = statistics.median(got)
        out[key] = row
    return out


def fmt(value: float | str | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return f"**{value}**" if value == "FAILED" else value
    return f"{value:,.{digits}f}"


def ratio(m: Metric, ours: float | str | None, peer: float | str | None) -> float | None:
    """How many times better rq_stream is (>1: better), whatever the metric's direction."""
    if not isinstance(ours, float) or not isinstance(peer, float) or not ours or not peer:
        return None
    return ours / peer if m.higher_better else peer / ours


def best_peer(m: Metric, row: dict[str, float | str]) -> tuple[str, float] | None:
    peers = [(k, v) for k, v in row.items() if k not in NOT_PEERS and isinstance(v, float)]
    if not peers:
        return None
    pick: Callable[..., tuple[str, float]] = max if m.higher_better else min
    return pick(peers, key=lambda kv: kv[1])


def targets(data: dict[str, Any], cells: dict[str, dict[str, float | str]], lib: str) -> list[str]:
    ideal = data["params"]["concurrency"] / 0.01
    lines = []

    def vs_best(metric: str, factor: float, text: str) -> None:
        m = METRICS[metric]
        best = best_peer(m, cells[metric])
        r = ratio(m, cells[metric].get(lib), best[1]) if best else None
        measured = f"{r:.1f}x {best[0]}" if r is not None and best else "-"
        met = "-" if r is None else ("met" if r >= factor else "**missed**")
        lines.append(f"| {text} | {measured} | {met} |")

    def absolute(metric: str, limit: float, text: str, scale: float = 1.0, unit: str = "") -> None:
        m = METRICS[metric]
        v = cells[metric].get(lib)
        if not isinstance(v, float):
            lines.append(f"| {text} | {fmt(v)} | - |")
            return
        ok = v >= limit if m.higher_better else v <= limit
        shown = f"{v * scale:,.{1 if scale != 1 else m.digits}f}{unit}"
        lines.append(f"| {text} | {shown} | {'met' if ok else '**missed**'} |")

    vs_limit(cells, lines, lib)
    vs_best("noop_1", 10, "no-op throughput, 1 process ≥ 10x best peer")
    absolute("sleep", 0.9 * ideal, f"10 ms jobs ≥ 90% of ideal ({ideal:,.0f}/s)", 100 / ideal, "%")
    vs_best("enqueue_one", 1.5, "one-at-a-time enqueue ≥ 1.5x best peer")
    vs_best("enqueue_bulk", 10, "bulk enqueue ≥ 10x best peer")
    absolute("lat_p50", 2.0, "latency p50 ≤ 2 ms", unit=" ms")
    absolute("rss_mb", 40.0, "worker peak RSS ≤ 40 MB", unit=" MB")
    return lines


def vs_limit(cells: dict[str, dict[str, float | str]], lines: list[str], lib: str) -> None:
    """The target line "no-op at the default concurrency ≥ 60 % of the bare loop" (streams)."""
    if lib != "rq_stream" or LIMIT not in cells["noop_1"]:
        return
    ours, limit = cells["noop_1"].get("rq_stream-default"), cells["noop_1"][LIMIT]
    text = f"no-op at the default concurrency ≥ {LIMIT_TARGET:.0%} of the bare loop"
    if not isinstance(ours, float) or not isinstance(limit, float):
        lines.append(f"| {text} | {fmt(ours)} / {fmt(limit)} | - |")
        return
    share = ours / limit
    met = "met" if share >= LIMIT_TARGET else "**missed**"
    shown = f"{share:.0%} ({ours:,.0f} / {limit:,.0f})"
    redispy = cells["noop_1"].get(LIMITS[1])
    if isinstance(redispy, float):
        shown += f"; {ours / redispy:.0%} of the redis-py loop"
    lines.append(f"| {text} | {shown} | {met} |")


def limit_section(libs: dict[str, str], cells: dict[str, dict[str, float | str]]) -> list[str]:
    """Each rq_stream row as a share of the bare loop, on the figures the loop has."""
    if LIMIT not in libs:
        return []
    rows = [k for k in (*LIMITS[1:], *OURS, *VARIANTS) if k in libs]
    out = [
        "",
        f"## Against the limit: each figure as a share of {libs[LIMIT]}'s (> 100 %: better)",
        "",
        "| workload | " + " | ".join(libs[k] for k in rows) + " |",
        "| --- | " + " | ".join("---:" for _ in rows) + " |",
    ]
    for key, m in METRICS.items():
        if not isinstance(cells[key].get(LIMIT), float) or key in ("rss_mb", "commands_per_job"):
            continue
        rs = [ratio(m, cells[key].get(k), cells[key][LIMIT]) for k in rows]
        out.append(
            f"| {m.title} | " + " | ".join("-" if r is None else f"{r:.0%}" for r in rs) + " |"
        )
    return out


def variant_costs(libs: dict[str, str], cells: dict[str, dict[str, float | str]]) -> list[str]:
    """Per variant, one line: its figure over the plain run's (x as fast; < 1 is a cost)."""
    out = []
    for variant, base in VARIANTS.items():
        if variant not in libs or base not in libs:
            continue
        parts = []
        for key, m in METRICS.items():
            r = ratio(m, cells[key].get(variant), cells[key].get(base))
            if r is not None and key != "commands_per_job":
                parts.append(f"{key} {r:.2f}x")
        shown = ", ".join(parts) or "no figures"
        out += ["", f"**{libs[variant]} vs {libs[base]}** (x as good; < 1 is its cost): {shown}"]
    return out


def against_peers(
    data: dict[str, Any], cells: dict[str, dict[str, float | str]], ours: str
) -> list[str]:
    """One rq_stream row against each peer (ratios, best peer) and its targets."""
    libs: dict[str, str] = data["libraries"]
    peers = [k for k in libs if k not in NOT_PEERS]
    out = [
        "",
        f"## {libs[ours]} compared with each peer (x better; > 1 means rq_stream wins)",
        "",
        "| workload | " + " | ".join(libs[k] for k in peers) + " | best peer |",
        "| --- | " + " | ".join("---:" for _ in peers) + " | --- |",
    ]
    for key, m in METRICS.items():
        row = cells[key]
        rs = [ratio(m, row.get(ours), row.get(k)) for k in peers]
        best = best_peer(m, row)
        rb = ratio(m, row.get(ours), best[1]) if best else None
        best_txt = f"{rb:.2f}x ({libs[best[0]]})" if best and rb is not None else "-"
        shown = " | ".join("-" if r is None else f"{r:.2f}x" for r in rs)
        out.append(f"| {m.title} | {shown} | {best_txt} |")
    out += ["", f"### Targets for {libs[ours]}", "", "| target | measured | |"]
    return [*out, "| --- | --- | --- |", *targets(data, cells, ours)]


def notes(data: dict[str, Any], chart_problem: str | None) -> list[str]:
    libs: dict[str, str] = data["libraries"]
    out = [f"- {libs[lib]} bulk enqueue: {note}." for lib, note in data["notes"].items()]
    for lib, why in data["unavailable"].items():
        out.append(f"- {libs.get(lib, lib)}: n/a, {why}.")
    for case, by_lib in data["errors"].items():
        for lib, errs in by_lib.items():
            out.append(f"- **FAILED** {case} / {libs[lib]}: {'; '.join(sorted(set(errs)))}.")
    if chart_problem:
        out.append(f"- {chart_problem}")
    spawn = data["values"].get("_spawn_to_done_s", {})
    if spawn:
        parts = [f"{libs[k]} {statistics.median(v):.1f}s" for k, v in spawn.items()]
        out.append(f"- Worker spawn to last job done, median over c/d/e runs: {', '.join(parts)}.")
    return out


def write_report(data: dict[str, Any], path: Path, chart_problem: str | None = None) -> str:
    libs: dict[str, str] = data["libraries"]
    cells = cell_values(data)
    p, env = data["params"], data["environment"]
    out = [
        f"# rq_stream benchmarks ({data['mode']} run)",
        "",
        f"{env['date']}: {p['reps']} repetition(s) per figure, median shown; libraries run "
        f"interleaved on one redis-server. Enqueue: {p['enqueue_n']:,} jobs; no-op: "
        f"{p['noop_n']:,} jobs pre-enqueued; 10 ms jobs: {p['sleep_n']:,}; latency: "
        f"{p['lat_n']:,} jobs at {p['lat_rate']:.0f}/s. Worker concurrency C = "
        f"{p['concurrency']}; (d) runs {p['procs']} worker processes. Throughput = jobs / (last "
        "job done - first job started), from the jobs' own timestamps.",
        "",
        "| workload | unit | " + " | ".join(libs.values()) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in libs) + " |",
    ]
    for key, m in METRICS.items():
        row = cells[key]
        shown = [fmt(row.get(lib), m.digits) for lib in libs]
        out.append(f"| {m.title} | {m.unit} | " + " | ".join(shown) + " |")
    for ours in (lib for lib in OURS if lib in libs and lib not in data["unavailable"]):
        out += against_peers(data, cells, ours)
    out += limit_section(libs, cells)
    out += variant_costs(libs, cells)
    out += ["", "## Notes", "", *notes(data, chart_problem)]
    out += [
        "",
        "## Environment",
        "",
        f"- {env['cpu_count']} CPUs ({env['cpu']}), {env['platform']}, load average at start "
        f"{', '.join(f'{x:.2f}' for x in env['load_avg_at_start'])}",
        f"- Redis {env['redis']} (fresh redis-server, no persistence), Python {env['python']}",
        f"- rq_stream commit {env['rq_stream_commit']}; run took {env['duration_s']:.0f} s",
    ]
    for lib, vers in env["libraries"].items():
        shown = ", ".join(f"{k} {v}" for k, v in vers.items())
        out.append(f"- {libs[lib]}: {shown}")
    out += ["", "![chart](latest.png)", ""]
    text = "\n".join(out)
    path.write_text(text)
    return text
