"""Example tasks used by the README, the demo and the tests.

Run a worker for them with:  rq-stream worker workers.example:app --concurrency 100
"""

from __future__ import annotations

import hashlib
import os
import random
from decimal import Decimal

import anyio

from rq_stream import Backoff, Retry, RqStream

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "example"))


@app.task(queue="default", result_ttl_s=3600)
async def add(x: int, y: int) -> int:
    return x + y


@app.task(queue="default", retries=3, backoff=Backoff(base_s=0.2, cap_s=2.0), timeout_s=10)
async def send_email(to: str, subject: str, body: str = "") -> dict[str, str]:
    """Pretend to talk to a mail API: a few ms of I/O, and about 5% transient failures."""
    await anyio.sleep(random.uniform(0.002, 0.01))
    if random.random() < 0.05:
        raise ConnectionError(f"SMTP relay timed out sending to {to}")
    return {"to": to, "subject": subject, "message_id": hashlib.sha1(to.encode()).hexdigest()[:12]}


@app.task(queue="default")
def thumbnail(image_id: int, width: int = 128) -> str:
    """CPU work in a plain function: runs in a worker thread, not on the event loop."""
    digest = hashlib.sha256(f"{image_id}:{width}".encode() * 200).hexdigest()
    return f"thumb-{image_id}-{width}-{digest[:8]}"


@app.task(
    queue="default", retries=2, backoff=Backoff(base_s=0.1, cap_s=1.0), no_retry_on=(ValueError,)
)
async def charge(order_id: int, amount: Decimal) -> str:
    """A payment that sometimes asks to be retried later (raise Retry)."""
    await anyio.sleep(0.005)
    if random.random() < 0.03:
        raise Retry(delay_s=0.2, reason="payment provider busy")
    if amount <= 0:
        raise ValueError(f"order {order_id}: amount must be positive, got {amount}")
    return f"charged order {order_id}: {amount}"
