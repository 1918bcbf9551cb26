"""Every Redis connection: URL and topology, redis-py clients, the lean script client, pub/sub."""
