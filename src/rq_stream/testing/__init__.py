"""Testing with rq_stream: a throwaway ``redis-server``, and a kit for testing your own tasks.

- :class:`RedisServer` (with :func:`make_tls_files`, :func:`free_port`, :func:`pid_alive`): a
  real ``redis-server`` on a free loopback port, for tests, the demo and benchmarks.
- :func:`bind` points your app at a test Redis under a fresh key prefix; :func:`run_until_idle`
  runs its queued jobs to completion in-process and returns a :class:`RunReport`.
- :mod:`rq_stream.testing.pytest_plugin`, registered with pytest when rq_stream is installed:
  the fixtures ``rq_redis_server``, ``rq_redis_url``, ``rq_prefix`` and ``rq_bind``.
"""

from rq_stream.testing.kit import (
    Delayed,
    JobsFailed,
    RunReport,
    bind,
    fresh_prefix,
    run_until_idle,
)
from rq_stream.testing.server import (
    RedisServer,
    TlsFiles,
    free_port,
    make_tls_files,
    pid_alive,
    redis_server_binary,
)

__all__ = [
    "Delayed",
    "JobsFailed",
    "RedisServer",
    "RunReport",
    "TlsFiles",
    "bind",
    "free_port",
    "fresh_prefix",
    "make_tls_files",
    "pid_alive",
    "redis_server_binary",
    "run_until_idle",
]
