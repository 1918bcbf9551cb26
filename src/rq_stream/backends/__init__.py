"""Queue storage behind one interface: Redis Streams (default) and Redis lists."""

from rq_stream.backends.base import Backend, Completion, Delivery, Failure, NewJob, QueueCounts

__all__ = ["Backend", "Completion", "Delivery", "Failure", "NewJob", "QueueCounts"]
