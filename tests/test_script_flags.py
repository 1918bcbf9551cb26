"""Script flags: worker scripts run at maxmemory (allow-oom), producer scripts do not, and a
server that cannot read the flag line (Redis < 7.0) gets the scripts without it."""

from __future__ import annotations

from importlib import resources

import pytest
from redis import exceptions as rex
from redis.asyncio import Redis

from rq_stream import scripts
from rq_stream.testing import RedisServer

ALLOW_OOM = "#!lua flags=allow-oom\n"
PRODUCER_SIDE = {"enqueue", "list_enqueue", "stream_replay", "list_replay",
                 "cache_fill", "cache_get", "cache_set", "lock_acquire", "lock_release",
                 "lock_renew", "rate_acquire", "list_counts",
                 "cron_tick", "list_cron_tick"}  # fmt: skip


def names() -> list[str]:
    root = resources.files(scripts)
    return sorted(f.name[:-4] for f in root.iterdir() if f.name.endswith(".lua"))


@pytest.mark.parametrize("name", names())
def test_worker_scripts_carry_allow_oom_and_producer_scripts_do_not(name: str) -> None:
    text = scripts.source(name)
    if name in PRODUCER_SIDE:
        assert not text.startswith(ALLOW_OOM), f"{name} must be refused at maxmemory"
    else:
        assert text.startswith(ALLOW_OOM), f"{name} moves existing work: it needs allow-oom"
    assert text.count("#!") == 1 if text.startswith("#!") else "#!" not in text


async def test_legacy_scripts_drop_the_flag_line_and_still_load(
    redis_server: RedisServer,
) -> None:
    r = Redis.from_url(redis_server.url)
    try:
        for name in names():
            legacy = scripts.script(name, True)
            assert not legacy.source.startswith(b"#!")
            assert legacy.source.startswith(b"-- "), name  # the header comes first
            assert (await r.script_load(legacy.source)) == legacy.sha.decode()
    finally:
        await r.aclose()


async def test_the_error_of_a_server_without_flags_is_recognised(
    redis_server: RedisServer,
) -> None:
    """Redis < 7.0 compiles the flag line as Lua 5.1; Redis 7 does the same with a line that
    does not start the script, so the error text comes from a real Lua parser."""
    r = Redis.from_url(redis_server.url)
    try:
        with pytest.raises(rex.ResponseError) as caught:
            await r.script_load(" " + ALLOW_OOM + "return 1")
    finally:
        await r.aclose()
    assert str(caught.value).startswith("Error compiling script (new function): user_script:1:")
    assert scripts.refuses_flags(caught.value)
    assert not scripts.refuses_flags(rex.ResponseError("Error compiling script: user_script:3: "
                                                       "'end' expected near '<eof>'"))  # fmt: skip
