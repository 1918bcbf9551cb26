"""The worker runtime (the side that runs jobs)."""

from rq_stream.worker.job_context import JobContext, current_job
from rq_stream.worker.runtime import Worker, WorkerStats

__all__ = ["JobContext", "Worker", "WorkerStats", "current_job"]
