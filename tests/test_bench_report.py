"""The benchmark report's arithmetic (benchmarks/report.py), on made-up figures: nothing here
runs a benchmark. The bare-loop rows are a reference, never a peer, and the target line gives
rq_stream's no-op at its default concurrency as a share of the bare loop."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import report

LIBS = {
    "limit": "limit (bare loop)",
    "limit-redispy": "limit (bare loop, redis-py)",
    "rq_stream": "rq_stream (streams)",
    "rq_stream-default": "rq_stream (streams, default -c)",
    "pydocket": "pydocket",
    "bullmq": "bullmq",
}


def data(noop_1: dict[str, float], unavailable: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "mode": "quick",
        "params": {
            "reps": 1,
            "enqueue_n": 10,
            "noop_n": 10,
            "sleep_n": 10,
            "lat_n": 10,
            "lat_rate": 200.0,
            "concurrency": 100,
            "procs": 2,
        },
        "environment": {
            "date": "today",
            "cpu_count": 2,
            "cpu": "cpu",
            "platform": "linux",
            "load_avg_at_start": (0.0, 0.0, 0.0),
            "redis": "7",
            "python": "3",
            "rq_stream_commit": "abc",
            "duration_s": 1.0,
            "libraries": {},
        },
        "libraries": LIBS,
        "values": {"noop_1": {k: [v] for k, v in noop_1.items()}},
        "errors": {},
        "notes": {},
        "unavailable": unavailable or {},
    }


def test_the_bare_loop_is_never_the_best_peer(tmp_path: Path) -> None:
    figures = {"limit": 100_000.0, "limit-redispy": 50_000.0, "rq_stream": 40_000.0,
               "rq_stream-default": 30_000.0, "pydocket": 1_000.0, "bullmq": 2_000.0}  # fmt: skip
    text = report.write_report(data(figures), tmp_path / "latest.md")
    assert "| no-op throughput, 1 process ≥ 10x best peer | 20.0x bullmq | met |" in text
    line = "| no-op at the default concurrency ≥ 60% of the bare loop | 30% (30,000 / 100,000); "
    assert line + "60% of the redis-py loop | **missed** |" in text
    assert "| (c) no-op jobs, 1 worker process | 50% | 40% | 30% |" in text


def test_an_unavailable_peer_is_reported_not_fatal(tmp_path: Path) -> None:
    figures = {"limit": 100_000.0, "rq_stream": 40_000.0, "rq_stream-default": 70_000.0}
    why = {"bullmq": "pip install failed: no network"}
    text = report.write_report(data(figures, why), tmp_path / "latest.md")
    assert "- bullmq: n/a, pip install failed: no network." in text
    assert "| 70% (70,000 / 100,000) | met |" in text
