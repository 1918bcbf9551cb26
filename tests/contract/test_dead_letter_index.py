"""Dead letters found by job id through the dead-letter index (no scan of the stream)."""

from __future__ import annotations

from rq_stream import RqStream, Worker


def burst(app: RqStream) -> Worker:
    return Worker(app, queues=["work"], burst=True, handle_signals=False)


async def _bury(qapp: RqStream, n: int) -> list[str]:
    @qapp.task(queue="work", retries=0)
    async def doomed(i: int) -> None:
        raise ValueError(f"bad {i}")

    jobs = [await doomed.options(job_id=f"job-{i}").enqueue(i) for i in range(n)]
    await burst(qapp).run()
    return [j.id for j in jobs]


async def test_a_dead_letter_is_found_by_job_id_through_the_index(qapp: RqStream) -> None:
    ids = await _bury(qapp, 3)
    dlq = qapp.dead_letters("work")
    k = qapp.keys.queue("work")
    index = await qapp.redis.hgetall(k.dead_index)
    assert sorted(index) == sorted(i.encode() for i in ids)
    for letter in await dlq.list():
        assert index[letter.job_id.encode()] == letter.id.encode()
        found = await dlq.get(letter.job_id)
        assert found == letter
        assert (found.exc_type, found.message) == ("ValueError", f"bad {found.job_id[4:]}")
    assert await dlq.get("job-unknown") is None
    assert await dlq.get((await dlq.list())[0].id) == (await dlq.list())[0]  # by entry id still


async def test_replay_and_purge_clean_the_index(qapp: RqStream) -> None:
    await _bury(qapp, 3)
    dlq = qapp.dead_letters("work")
    k = qapp.keys.queue("work")
    first, second, third = await dlq.list()
    assert await dlq.replay(first.id) == 1
    assert await qapp.redis.hexists(k.dead_index, first.job_id) == 0
    assert await dlq.get(first.job_id) is None
    assert await dlq.purge([second.id]) == 1
    assert await dlq.get(second.job_id) is None
    assert sorted(await qapp.redis.hkeys(k.dead_index)) == [third.job_id.encode()]
    assert await dlq.purge() == 1
    assert not await qapp.redis.exists(k.dead_index)


async def test_a_replayed_job_that_fails_again_is_found_at_its_new_entry(qapp: RqStream) -> None:
    (job_id,) = await _bury(qapp, 1)
    dlq = qapp.dead_letters("work")
    (letter,) = await dlq.list()
    assert await dlq.replay(letter.id) == 1
    await burst(qapp).run()
    again = await dlq.get(job_id)
    assert again is not None and again.id != letter.id
    assert [x.id for x in await dlq.list()] == [again.id]


async def test_an_index_entry_whose_letter_was_trimmed_counts_as_absent(qapp: RqStream) -> None:
    ids = await _bury(qapp, 4)
    dlq = qapp.dead_letters("work")
    k = qapp.keys.queue("work")
    await qapp.redis.xtrim(
        k.dead, maxlen=1, approximate=False
    )  # by hand (MAXLEN): the three oldest are gone
    (kept,) = await dlq.list()
    gone = [i for i in ids if i != kept.job_id]
    for job_id in gone:
        assert await dlq.get(job_id) is None
        assert await qapp.redis.hexists(k.dead_index, job_id) == 0, "stale entry dropped"
    assert await dlq.get(kept.job_id) == kept
    assert await qapp.redis.hkeys(k.dead_index) == [kept.job_id.encode()]
