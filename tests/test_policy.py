"""Backoff and the retry decision, deterministic (seeded jitter, no clock)."""

from __future__ import annotations

import random

from rq_stream import Backoff, Retry
from rq_stream.options import TaskOptions
from rq_stream.worker.policy import ArgumentError, decide


def test_backoff_is_exponential_capped_and_jittered() -> None:
    plain = Backoff(base_s=1, cap_s=10, jitter=False)
    assert [plain.delay_s(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    jittered = Backoff(base_s=1, cap_s=10)
    rng = random.Random(42)
    delays = [jittered.delay_s(4, rng) for _ in range(200)]
    assert all(4 <= d <= 8 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100
    assert Backoff().delay_s(3, random.Random(1)) == Backoff().delay_s(3, random.Random(1))


def test_decide() -> None:
    opts = TaskOptions(name="t", retries=2, backoff=Backoff(base_s=1, cap_s=100, jitter=False))
    assert (decide(opts, 1, ValueError()).retry, decide(opts, 1, ValueError()).delay_ms) == (
        True,
        1000,
    )
    assert decide(opts, 2, ValueError()).delay_ms == 2000
    assert not decide(opts, 3, ValueError()).retry
    assert not decide(opts, 1, ArgumentError()).retry
    assert decide(opts, 1, Retry(delay_s=0.25)).delay_ms == 250
    assert not decide(TaskOptions(name="t", max_attempts=2), 2, Retry()).retry
    never = TaskOptions(name="t", retries=5, no_retry_on=(KeyError,))
    assert not decide(never, 1, KeyError()).retry
    assert decide(never, 1, ValueError()).failure.exc_type == "ValueError"
    capped = TaskOptions(name="t", retries=5, max_attempts=2)
    assert decide(capped, 1, ValueError()).retry and not decide(capped, 2, ValueError()).retry
