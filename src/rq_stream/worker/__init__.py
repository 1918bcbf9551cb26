"""The worker runtime (the side that runs jobs)."""

from rq_stream.worker.job_context import JobContext, WorkerInfo, current_job
from rq_stream.worker.runtime import Worker, WorkerStats

__all__ = ["JobContext", "Worker", "WorkerInfo", "WorkerStats", "current_job"]
