"""``rq-stream enqueue`` and ``rq-stream result``: enqueue a job, look up a job's result."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rq_stream.cli.common import (
    EXIT_FAILED,
    EXIT_NOT_FINISHED,
    CliError,
    load,
    resolve_task,
    run_with,
    to_json,
)
from rq_stream.cli.progress import watch
from rq_stream.client.app import RqStream
from rq_stream.client.job import Job, outcome
from rq_stream.errors import JobCancelled, JobExpired, JobNotFound, ResultTimeout, TaskFailed


def _json_arg(option: str, text: str, kind: type[list[Any]] | type[dict[str, Any]]) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option} is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, kind):
        want = "a JSON array, like '[1, 2]'" if kind is list else "a JSON object, like '{\"x\": 1}'"
        raise CliError(f"{option} must be {want}, got {type(value).__name__}: {text!r}")
    return value


def enqueue_command(args: argparse.Namespace) -> int:
    positional = _json_arg("--args", args.args, list)
    keywords = _json_arg("--kwargs", args.kwargs, dict)
    app = load(args)
    task = resolve_task(app, args.task)
    bound = task.options(job_id=args.job_id, delay_s=args.delay, queue=args.queue)

    async def body(_: RqStream) -> int:
        job = await bound.enqueue(*positional, **keywords)
        print(job.id, flush=True)
        return 0

    return run_with(app, body)


async def find_queue(app: RqStream, job_id: str) -> str:
    """The queue holding a record of this job (the default queue first)."""
    candidates = [app.default_queue, *sorted({t.settings.queue for t in app.tasks.values()})]
    candidates += await app.known_queues()
    for queue in dict.fromkeys(candidates):
        if await app.redis.exists(app.keys.queue(queue).job(job_id)):
            return queue
    return app.default_queue


async def _result_now(app: RqStream, job: Job[Any]) -> Any:
    """The outcome if the job has finished; ResultTimeout (saying its status) if not."""
    found = await app.results.read(job)
    if found is None:
        status = (await job.status()).value
        raise ResultTimeout(f"job {job.id} has not finished: it is {status}")
    if found[0] == b"N":
        raise JobNotFound(
            f"no job {job.id!r} in queue {job.queue!r}: never enqueued there, or its result "
            "expired (result_ttl_s)"
        )
    return outcome(job.id, *found, app.payloads.loads)


def result_command(args: argparse.Namespace) -> int:
    app = load(args)

    async def body(app: RqStream) -> int:
        job = app.job(args.job_id, args.queue or await find_queue(app, args.job_id))
        try:
            if args.watch:
                if await watch(job, args.wait) is None:
                    raise ResultTimeout(f"job {job.id} did not finish within {args.wait} s")
                value = await _result_now(app, job)
            elif args.wait is None:
                value = await _result_now(app, job)
            else:
                value = await job.result(timeout_s=args.wait)
        except TaskFailed as exc:
            print(f"rq-stream: {exc}", file=sys.stderr)
            if exc.traceback:
                print(exc.traceback.rstrip(), file=sys.stderr)
            return EXIT_FAILED
        except (JobCancelled, JobExpired) as exc:
            print(f"rq-stream: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except ResultTimeout as exc:
            print(f"rq-stream: {exc}", file=sys.stderr)
            return EXIT_NOT_FINISHED
        print(to_json(value), flush=True)
        return 0

    return run_with(app, body)
