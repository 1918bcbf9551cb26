"""``rq-stream worker``: one worker process, or ``--processes N`` of them under a supervisor."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import anyio
import structlog

from rq_stream.cli import metrics
from rq_stream.cli.common import CannotStart, CliError, load, run_with
from rq_stream.client.app import RqStream
from rq_stream.errors import ConfigurationError, ConnectionFailed, LifespanFailed
from rq_stream.logs import configure_logging
from rq_stream.worker import Worker
from rq_stream.worker.lifespan import failure_unwrapped
from rq_stream.worker.supervisor import (
    EXIT_CANNOT_START,
    RestartBackoff,
    Supervisor,
    SupervisorLink,
)


def worker_command(args: argparse.Namespace) -> int:
    configure_logging(args.log_format, args.log_level)
    link = SupervisorLink.from_env()
    if link is not None:
        structlog.contextvars.bind_contextvars(process=link.index)
    try:
        worker = _build_worker(args)
        if args.processes == 1:
            metrics.install(args, worker.app)
    except CannotStart as exc:
        if link is None:
            raise
        link.cannot_start(str(exc))
        return EXIT_CANNOT_START
    if args.processes > 1:
        return _supervise(args, worker.app)
    _stop_on_early_sigterm(worker)
    try:
        anyio.run(_run_worker, worker, link)
    except LifespanFailed as exc:  # the worker took no job: restarting it would fail the same
        if link is None:
            raise CannotStart(str(exc)) from exc
        link.cannot_start(str(exc))
        return EXIT_CANNOT_START
    finally:
        if link is not None:  # kept open until now: the lifespan may fail to start
            link.close()
    return 0


def _build_worker(args: argparse.Namespace) -> Worker:
    try:
        app = load(args)
        queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
        return Worker(app, queues=queues, concurrency=args.concurrency, burst=args.burst,
                      grace_s=args.grace, lease_s=args.lease,
                      prefetch=args.prefetch)  # fmt: skip
    except (CliError, ConfigurationError, ConnectionFailed) as exc:
        raise CannotStart(str(exc)) from exc


def _stop_on_early_sigterm(worker: Worker) -> None:
    """A SIGTERM before the worker installs its own handlers (while it connects) is a graceful
    stop too, not death by the default handler."""

    def handler(signum: int, frame: object) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            worker.request_stop()
        else:
            loop.call_soon_threadsafe(worker.request_stop)

    signal.signal(signal.SIGTERM, handler)


async def _run_worker(worker: Worker, link: SupervisorLink | None) -> None:
    try:
        await worker.app.connect()  # fail here, outside the task group, if Redis is unreachable
    except ConnectionFailed as exc:
        if link is None:  # a supervised child exits 2 and is restarted: Redis was up before
            raise CannotStart(str(exc)) from exc
        raise
    if link is None:
        await worker.run()
        return
    async with failure_unwrapped(), anyio.create_task_group() as tg:
        tg.start_soon(link.watch, worker.request_stop)
        await worker.run()
        tg.cancel_scope.cancel()


def _supervise(args: argparse.Namespace, app: RqStream) -> int:
    try:
        run_with(app, _nothing)  # one clear error now rather than one per child
    except ConnectionFailed as exc:
        raise CannotStart(str(exc)) from exc
    with metrics.aggregated(args, app) as env:
        supervisor = Supervisor(
            _child_command(args),
            args.processes,
            burst=args.burst,
            backoff=RestartBackoff(base_s=args.restart_delay),
            stop_timeout_s=args.grace + 10.0,
            env=env,
        )
        code = anyio.run(supervisor.run)
    if supervisor.fatal is not None:
        raise CannotStart(f"a worker process cannot start: {supervisor.fatal}")
    return code


async def _nothing(app: RqStream) -> int:
    return 0


def _child_command(args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "rq_stream"]
    if args.debug:
        cmd.append("--debug")
    cmd += ["worker", args.app, "--concurrency", str(args.concurrency), "--grace", str(args.grace),
            "--log-format", args.log_format, "--log-level", args.log_level]  # fmt: skip
    if args.queues:
        cmd += ["--queues", args.queues]
    if args.lease is not None:
        cmd += ["--lease", str(args.lease)]
    if args.prefetch is not None:
        cmd += ["--prefetch", str(args.prefetch)]
    if args.burst:
        cmd.append("--burst")
    if args.metrics_port is not None:
        cmd.append("--metrics-child")
    if args.url:
        cmd += ["--url", args.url]
    return cmd
