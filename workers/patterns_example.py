"""The Redis patterns every app needs, runnable: cache-aside with write-through, rate limits,
locks and unique jobs.

    python -m workers.patterns_example        # needs $REDIS_URL (default redis://127.0.0.1:6379/0)

or run workers for the tasks with:  rq-stream worker workers.patterns_example:app
"""

from __future__ import annotations

import os
from typing import Any

import anyio

from rq_stream import RqStream, Worker

app = RqStream(os.environ.get("REDIS_URL"), prefix=os.environ.get("RQ_STREAM_PREFIX", "patterns"))

# --------------------------------------------------------------------------- cache-aside
USERS: dict[int, dict[str, Any]] = {42: {"id": 42, "name": "Ada", "plan": "free"}}  # "database"


@app.cached(ttl_s=300, key=lambda user_id: str(user_id))
async def get_user(user_id: int) -> dict[str, Any]:
    """Read-through: the first call loads from the database, the next ones come from Redis."""
    await anyio.sleep(0.05)  # a slow query
    return dict(USERS[user_id])


async def update_user(user_id: int, **changes: Any) -> dict[str, Any]:
    """Write-through: update the database, then the cache (no stale read, no extra query)."""
    USERS[user_id] = {**USERS[user_id], **changes}
    await get_user.set(USERS[user_id], user_id)
    return USERS[user_id]


# --------------------------------------------------------------------------- rate limits
@app.task(rate_limit="20/s", rate_key=lambda tenant, **_: tenant)
async def call_partner_api(tenant: str, order_id: int) -> str:
    """At most 20 starts per second per tenant, across every worker; extra jobs wait (deferred,
    not failed, not counted as attempts)."""
    return f"{tenant}: order {order_id} sent"


search_limit = app.rate_limiter("search", "5/s")


async def search_handler(user: str, query: str) -> tuple[int, str]:
    """A web handler: answer 429 with Retry-After instead of waiting."""
    decision = await search_limit.try_acquire(user)
    if not decision:
        return 429, f"retry after {decision.retry_after_s:.2f} s"
    return 200, f"results for {query!r}"


# --------------------------------------------------------------------------- locks
@app.task
async def nightly_report(day: str) -> str:
    """However many workers pick this up, one at a time builds the report."""
    async with app.lock(f"report:{day}", ttl_s=30, timeout_s=60):
        await anyio.sleep(0.01)
        return f"report {day} built"


# --------------------------------------------------------------------------- unique jobs
@app.task(unique=True)
async def reindex(collection: str) -> str:
    """Enqueued from many places; runs once per burst of identical requests."""
    await anyio.sleep(0.01)
    return f"{collection} reindexed"


async def main() -> None:
    async with app:
        # Cache-aside and write-through.
        print("user:", await get_user(42))
        print("user again (cached):", await get_user(42))
        await update_user(42, plan="pro")
        print("after update:", await get_user(42))
        print("cache stats:", get_user.local_stats())
        await get_user.invalidate(42)

        # Standalone rate limiter.
        answers = [await search_handler("ada", "redis") for _ in range(7)]
        print("search:", [status for status, _ in answers])

        # Unique jobs: three enqueues, one job.
        jobs = [await reindex.enqueue("products") for _ in range(3)]
        print("reindex jobs:", len({j.id for j in jobs}))

        # Rate-limited tasks and a locked section, run by an in-process worker.
        sent = await app.enqueue_many([call_partner_api.call("acme", n) for n in range(25)])
        reports = [await nightly_report.enqueue("2024-05-01") for _ in range(3)]
        await Worker(app, concurrency=20, burst=True, handle_signals=False,
                     delayed_max_sleep_s=0.05).run()  # fmt: skip
        print("partner api:", len([await j.result(timeout_s=10) for j in sent]), "calls sent")
        print("reports:", {await j.result(timeout_s=10) for j in reports})
        print("reindex:", await jobs[0].result(timeout_s=10))


if __name__ == "__main__":
    anyio.run(main)
