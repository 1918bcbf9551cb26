"""``rq-stream cancel``: cancel a job by its id."""

from __future__ import annotations

import argparse

from rq_stream.cli.common import EXIT_FAILED, load, run_with
from rq_stream.cli.jobs import find_queue
from rq_stream.client.app import RqStream


def cancel_command(args: argparse.Namespace) -> int:
    """Exit 0: cancelled now; 1: it had finished (nothing changed); 2: no such job."""
    app = load(args)

    async def body(app: RqStream) -> int:
        job = app.job(args.job_id, args.queue or await find_queue(app, args.job_id))
        if await job.cancel():
            print(f"cancelled job {job.id} (queue {job.queue!r})", flush=True)
            return 0
        status = (await job.status()).value
        print(f"job {job.id} had already finished ({status}): nothing to cancel", flush=True)
        return EXIT_FAILED

    return run_with(app, body)
