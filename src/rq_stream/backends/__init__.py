"""Queue storage behind one interface: Redis Streams (default) and Redis lists."""

from .base import Backend, Completion, Delivery, Failure, NewJob, QueueCounts

__all__ = ["Backend", "Completion", "Delivery", "Failure", "NewJob", "QueueCounts"]
