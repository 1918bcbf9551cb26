"""The worker runtime (the side that runs jobs)."""

from .execution import JobContext, current_job
from .runtime import Worker, WorkerStats

__all__ = ["JobContext", "Worker", "WorkerStats", "current_job"]
