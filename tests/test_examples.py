"""The runnable examples the README points to really run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def run_module(module: str, redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_quickstart_prints_3(redis_url: str) -> None:
    done = run_module("workers.quickstart", redis_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "3"


def test_demo_runs_and_summarises(redis_url: str) -> None:
    done = run_module("workers.demo", redis_url, DEMO_JOBS="600")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"Using Redis at {redis_url}" in out
    assert "Enqueued 600 jobs" in out
    processed = int(out.split("processed")[1].split()[0])
    failed = int(out.split("failed")[1].split()[0])
    assert processed + failed == 600 and processed > 500


def test_demo_starts_its_own_redis_when_redis_url_is_unreachable() -> None:
    done = run_module("workers.demo", "redis://127.0.0.1:1/0", DEMO_JOBS="200")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "does not answer" in done.stdout
    assert "Started a throwaway redis-server" in done.stdout
    assert "Summary" in done.stdout


def test_demo_ctrl_c_leaves_nothing_running() -> None:
    import signal
    import time

    from rq_stream.testing import pid_alive

    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.demo"],
        cwd=ROOT,
        env={
            **os.environ,
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "DEMO_JOBS": "50000",
            "PYTHONPATH": str(ROOT),
        },
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Worker logs" in line:
            break
    time.sleep(0.5)
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    server_pids = subprocess.run(
        ["pgrep", "-f", "redis-server"], capture_output=True, text=True
    ).stdout.split()
    port = next(x for x in "".join(lines).split() if x.isdigit() and int(x) > 1024)
    ours = [pid for pid in server_pids if port in Path(f"/proc/{pid}/cmdline").read_text()]
    assert children and ours
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130
    assert "Interrupted" in out
    for pid in [*children, *ours]:
        assert not pid_alive(int(pid)), f"process {pid} still running after Ctrl-C"


def test_metrics_example_scrapes_its_counters(redis_url: str) -> None:
    done = run_module("workers.metrics_example", redis_url)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert 'rq_stream_queue_depth{queue="default"} 6.0' in out
    assert 'rq_stream_jobs_enqueued_total{queue="default",task="resize"} 5.0' in out
    assert 'rq_stream_jobs_succeeded_total{queue="default",task="upload"} 1.0' in out
    assert 'rq_stream_jobs_retried_total{queue="default",task="upload"} 1.0' in out
    assert "rq_stream_up 1.0" in out
