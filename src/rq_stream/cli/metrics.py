"""``rq-stream worker --metrics-port``: metrics for one worker process, or the sum of the
``--processes N`` children served by their supervisor (prometheus_client's multiprocess mode:
each child writes its counters and histograms to files in a directory the supervisor creates
and removes; the queue gauges are read from Redis by the supervisor alone, so no live gauge is
ever summed over processes, and the files of a child that died keep its counts in the totals)."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from rq_stream.cli.common import CannotStart
from rq_stream.client.app import RqStream

MISSING = "--metrics-port needs prometheus-client: pip install 'rq_stream[metrics]'"


def _module() -> Any:
    try:
        import rq_stream.metrics as module
    except ImportError as exc:
        raise CannotStart(f"{MISSING} ({exc})") from exc
    return module


def install(args: argparse.Namespace, app: RqStream) -> None:
    """Metrics for this worker process: served here, or (a supervised child) recorded for the
    supervisor."""
    if args.metrics_child:
        _module().Metrics(app, queue_gauges=False)
    elif args.metrics_port is not None:
        metrics = _module().Metrics(app)
        try:
            metrics.serve(args.metrics_port, args.metrics_host)
        except OSError as exc:
            raise CannotStart(f"cannot serve metrics on port {args.metrics_port}: {exc}") from exc


@contextlib.contextmanager
def aggregated(args: argparse.Namespace, app: RqStream) -> Iterator[dict[str, str] | None]:
    """For the supervisor: the children's environment (None: the supervisor's own), serving
    the sum of the children's metrics meanwhile."""
    if args.metrics_port is None:
        yield None
        return
    module = _module()
    directory = tempfile.mkdtemp(prefix="rq-stream-metrics-")
    aggregate = module.Aggregate(app.context, app.task_queues, directory)
    try:
        try:
            aggregate.serve(args.metrics_port, args.metrics_host)
        except OSError as exc:
            raise CannotStart(f"cannot serve metrics on port {args.metrics_port}: {exc}") from exc
        yield aggregate.child_env()
    finally:
        aggregate.close()
        shutil.rmtree(directory, ignore_errors=True)


__all__ = ["aggregated", "install"]
