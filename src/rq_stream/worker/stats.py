"""What a worker counts (logged when it stops, shown in its ``rq-stream info`` row)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class WorkerStats:
    started_at: float = field(default_factory=time.time)
    completed: int = 0
    retried: int = 0
    failed: int = 0
    handed_back: int = 0
    expired: int = 0
    """Jobs taken after their deadline (``expires_s``/``expires_at``): ended, not run."""


__all__ = ["WorkerStats"]
