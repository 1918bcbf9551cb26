"""Redis patterns built on the context: cache-aside, locks, rate limits, unique jobs."""
