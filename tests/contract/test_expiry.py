"""Job expiry (``expires_s`` / ``expires_at``), on both backends: a job not started by its
deadline is not run and ends ``expired``, with its reason, counted in ``info``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import anyio
import pytest

from rq_stream import EnqueueError, JobExpired, JobStatus, RqStream, Task, Worker
from rq_stream.client import admin
from rq_stream.errors import ConfigurationError


def _tasks(app: RqStream) -> tuple[Task[[str], str], Task[[float], None], list[str]]:
    ran: list[str] = []

    @app.task(queue="work")
    async def note(tag: str) -> str:
        ran.append(tag)
        return tag

    @app.task(queue="work")
    async def slow(seconds: float) -> None:
        ran.append("slow")
        await anyio.sleep(seconds)

    return note, slow, ran


async def _drain(app: RqStream, concurrency: int = 10, prefetch: int | None = None) -> None:
    worker = Worker(app, queues=["work"], burst=True, handle_signals=False,
                    concurrency=concurrency, prefetch=prefetch)  # fmt: skip
    with anyio.fail_after(20):
        await worker.run()


async def test_a_delayed_job_whose_deadline_passes_before_its_delay_is_not_run(
    qapp: RqStream,
) -> None:
    note, _, ran = _tasks(qapp)
    job = await note.options(delay_s=0.3, expires_s=0.1).enqueue("late")
    kept = await note.options(delay_s=0.3, expires_s=30).enqueue("kept")
    await _drain(qapp)
    assert ran == ["kept"]
    assert await job.status() is JobStatus.EXPIRED
    assert (await job.status()).finished
    info = await job.info()
    assert info.error is not None and info.error["type"] == "JobExpired"
    assert "not started before its deadline" in info.error["message"]
    assert info.expires_at is not None and info.attempts == 0
    with pytest.raises(JobExpired, match=rf"job {job.id} expired: not started before its deadline"):
        await job.result(timeout_s=1)
    assert await kept.result(timeout_s=1) == "kept"
    snapshot = await admin.gather(qapp.context, ["work"])
    (work,) = [q for q in snapshot.queues if q.name == "work"]
    assert work.totals["expired"] == 1
    assert work.throughput.expired_10m == 1


async def test_a_backlog_job_expires_while_the_worker_is_busy(qapp: RqStream) -> None:
    note, slow, ran = _tasks(qapp)
    await slow.enqueue(0.6)
    job = await note.options(expires_s=0.2).enqueue("waited too long")
    deadline = datetime.now(timezone.utc) + timedelta(seconds=30)
    fine = await note.options(expires_at=deadline).enqueue("in time")

    async def waiter() -> BaseException | None:
        try:
            await job.result(timeout_s=10)
        except JobExpired as exc:
            return exc
        return None

    async with anyio.create_task_group() as tg:
        got: list[BaseException | None] = []

        async def wait_for_it() -> None:
            got.append(await waiter())

        tg.start_soon(wait_for_it)
        await _drain(qapp, concurrency=1, prefetch=0)
    assert ran == ["slow", "in time"]
    assert isinstance(got[0], JobExpired) and got[0].job_id == job.id
    assert await job.status() is JobStatus.EXPIRED
    assert await fine.status() is JobStatus.SUCCEEDED
    assert (await fine.info()).expires_at is not None


async def test_a_task_default_expiry_applies_and_a_job_option_replaces_it(
    qapp: RqStream,
) -> None:
    ran: list[str] = []

    @qapp.task(queue="work", expires_s=0.05)
    async def brief(tag: str) -> None:
        ran.append(tag)

    expired = await brief.enqueue("default")
    kept = await brief.options(expires_s=60).enqueue("own")
    await anyio.sleep(0.2)
    await _drain(qapp)
    assert ran == ["own"]
    assert await expired.status() is JobStatus.EXPIRED
    assert await kept.status() is JobStatus.SUCCEEDED


async def test_bad_expiry_is_refused_with_a_clear_message(qapp: RqStream) -> None:
    note, _, _ = _tasks(qapp)
    for bad, message in [
        ({"expires_s": -1}, "invalid job option: expires_s must be a number of seconds > 0, "
                            "got -1"),
        ({"expires_s": 0}, "expires_s must be a number of seconds > 0, got 0"),
        ({"expires_at": datetime(2020, 1, 1, tzinfo=timezone.utc)},
         "expires_at 2020-01-01T00:00:00+00:00 is already past"),
        ({"expires_at": datetime(2099, 1, 1)}, "expires_at must be an aware datetime"),
        ({"expires_s": 1, "expires_at": datetime(2099, 1, 1, tzinfo=timezone.utc)},
         "give either expires_s or expires_at, not both"),
    ]:  # fmt: skip
        with pytest.raises(EnqueueError, match=re.escape(message)):
            await note.options(**bad).enqueue("x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="expires_s must be a number of seconds > 0"):

        @qapp.task(queue="work", expires_s=-5)
        async def never() -> None: ...

    # Nothing was enqueued by the refused calls; the queue still works.
    assert (await qapp.backend("work").counts()).backlog == 0


async def test_one_batch_mixes_jobs_with_and_without_a_deadline(qapp: RqStream) -> None:
    note, _, ran = _tasks(qapp)
    plain, brief, later = await qapp.enqueue_many(
        [note.call("plain"), note.options(expires_s=0.05).call("brief"),
         note.options(expires_s=60, delay_s=0.1).call("later")]
    )  # fmt: skip
    assert (await plain.info()).expires_at is None
    await anyio.sleep(0.2)
    await _drain(qapp)
    assert sorted(ran) == ["later", "plain"]
    assert await brief.status() is JobStatus.EXPIRED
    assert await later.status() is JobStatus.SUCCEEDED
