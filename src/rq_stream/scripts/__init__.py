"""Lua scripts, one file per state change, run over the lean pipelined client (one server) or
redis-py (Cluster, which routes each script by its keys, and Sentinel, on the master).

A line ``-- @include name`` in a script is replaced by ``lib/name.lua`` (shared helpers), so each
operation stays one self-contained script on the server. Scripts are sent as EVALSHA and loaded
on NOSCRIPT (after a restart or a failover). A call that loses its connection is retried a few
times with jittered backoff: every script is idempotent or fenced (enqueue by job id, finishing
by XACK and the attempt counter), so a re-sent script acts once.

Scripts that move or finish work already in Redis (a worker taking, starting, completing,
retrying, handing back jobs, beating...) open with ``#!lua flags=allow-oom``: Redis 7 runs them
at ``maxmemory`` (``noeviction``), so a full Redis is drained by its workers instead of stalling
them; enqueue scripts carry no flag, so producers are refused (``RedisOutOfMemory``). Redis
before 7.0 cannot compile the flag line: on that error, :class:`Scripts` drops it from every
script it runs from then on (the legacy behaviour: a worker may stall at maxmemory).
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, Protocol

import structlog
from redis import exceptions as rex
from redis.asyncio import Redis

from rq_stream.connect.lean import LeanClient, LeanScript
from rq_stream.errors import IncompleteInstallation, ReplicationTimeout

log = structlog.get_logger("rq_stream.scripts")

_SHEBANG = "#!lua"
_INCLUDE = re.compile(r"^-- @include (\w+)$", re.MULTILINE)
_RETRYABLE = (
    rex.ConnectionError,
    rex.TimeoutError,
    rex.TryAgainError,  # Cluster: the slot is being migrated (multi-key on ASK)
    rex.ClusterError,  # Cluster: CLUSTERDOWN (failover), "TTL exhausted" (long migration)
)


@functools.cache
def source(name: str) -> str:
    def include(match: re.Match[str]) -> str:
        return _read("lib", f"{match.group(1)}.lua")

    return _INCLUDE.sub(include, _read(f"{name}.lua"))


def _read(*parts: str) -> str:
    """A file of the package; a missing one is an incomplete installation, not an OSError (which
    the callers' ``except (RedisError, OSError)`` would report as a lost connection)."""
    path = resources.files(__package__)
    for part in parts:
        path = path / part
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        name = "/".join(("scripts", *parts))
        raise IncompleteInstallation(
            f"the rq_stream installation is incomplete: the Lua script {name} is missing from "
            f"the package ({path}: {exc.strerror or exc}); reinstall rq_stream "
            "(pip install --force-reinstall rq_stream)"
        ) from None


@functools.cache
def script(name: str, legacy: bool = False) -> LeanScript:
    """The script ``name``; ``legacy``: without its ``#!lua`` flag line (Redis < 7.0)."""
    text = source(name)
    if legacy and text.startswith(_SHEBANG):
        text = text.split("\n", 1)[1]
    return LeanScript(text)


def refuses_flags(exc: BaseException) -> bool:
    """Redis < 7.0 compiling a script's ``#!lua flags=...`` line as Lua ("Error compiling
    script (new function): user_script:1: unexpected symbol near '#'")."""
    text = str(exc)
    return isinstance(exc, rex.ResponseError) and "Error compiling" in text and "near '#'" in text


class ScriptRunner(Protocol):
    """Sends one script; ``evalsha_wait`` then issues ``WAIT replicas timeout_ms`` on the same
    connection (WAIT is not allowed inside a script) and returns the replicas that acked."""

    async def evalsha(self, script: LeanScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply."""

    async def evalsha_wait(
        self, script: LeanScript, keys: Sequence[str], args: Sequence[Any], replicas: int,
        timeout_ms: int,
    ) -> tuple[Any, int]:  # fmt: skip
        """The script's reply and how many replicas acknowledged it."""


DEMOTED = -1
"""``evalsha_wait``'s count when the server that ran the script became a replica before WAIT."""


def _demoted_acks(exc: rex.ResponseError) -> int:
    """WAIT refused because the server is a replica now: a failover demoted the master that
    took the write between the script and WAIT, so the write may be lost with its old data."""
    if "WAIT cannot be used with replica" in str(exc):
        return DEMOTED
    raise exc


class LeanRunner:
    """One server: every script pipelined on the lean client's single connection."""

    def __init__(self, client: LeanClient) -> None:
        self._client = client

    async def evalsha(self, script: LeanScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._client.evalsha(script, keys, args)

    async def evalsha_wait(
        self, script: LeanScript, keys: Sequence[str], args: Sequence[Any], replicas: int,
        timeout_ms: int,
    ) -> tuple[Any, int]:  # fmt: skip
        # One connection: WAIT covers the writes of every script sent on it before.
        reply = await self._client.evalsha(script, keys, args)
        try:
            return reply, int(await self._client.execute(b"WAIT", replicas, timeout_ms))
        except rex.ResponseError as exc:
            return reply, _demoted_acks(exc)


class RedisRunner:
    """Cluster or Sentinel: redis-py sends EVALSHA (a cluster client to the node owning the
    keys' slot: every script's keys share one hash tag) and EVAL on NOSCRIPT."""

    def __init__(self, client: Redis) -> None:
        self._r = client

    async def evalsha(self, script: LeanScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._r.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except rex.NoScriptError:
            return await self._r.execute_command("EVAL", script.source, len(keys), *keys, *args)

    async def evalsha_wait(
        self, script: LeanScript, keys: Sequence[str], args: Sequence[Any], replicas: int,
        timeout_ms: int,
    ) -> tuple[Any, int]:  # fmt: skip
        command = "EVALSHA"
        for _ in range(2):
            # A pipeline holds one connection, so WAIT counts the script's writes.
            async with self._r.pipeline(transaction=False) as p:
                body = script.sha if command == "EVALSHA" else script.source
                p.execute_command(command, body, len(keys), *keys, *args)
                p.execute_command("WAIT", replicas, timeout_ms)
                reply, acked = await p.execute(raise_on_error=False)
            if isinstance(reply, rex.NoScriptError):
                command = "EVAL"
                continue
            if isinstance(reply, Exception):
                raise reply
            if isinstance(acked, rex.ResponseError):
                return reply, _demoted_acks(acked)
            if isinstance(acked, Exception):
                raise acked
            return reply, int(acked)
        raise AssertionError("unreachable")


class Scripts:
    """Runs the package's scripts: ``await scripts.run(name, keys, args)``.

    With ``wait_replicas``, a ``durable=True`` run (enqueues) waits up to ``wait_timeout_ms``
    for that many replicas to acknowledge its writes, and raises :class:`ReplicationTimeout`
    when fewer did (the write happened on the master; it may be lost on a failover)."""

    def __init__(
        self,
        runner: ScriptRunner | LeanClient,
        retries: int = 3,
        *,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        self._runner: ScriptRunner = (
            LeanRunner(runner) if isinstance(runner, LeanClient) else runner
        )
        self._retries = retries
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        self._legacy = False
        """The server cannot read ``#!lua`` flag lines (Redis < 7.0): scripts run without."""

    async def run(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[Any],
        *,
        durable: bool = False,
        retries: int | None = None,
    ) -> Any:
        """``retries``: resend after a lost connection this many times (default: the
        instance's); 0 for a caller that rides outages out itself and logs them."""
        lua = script(name, self._legacy)
        tries = self._retries if retries is None else retries
        try:
            return await self._run(lua, keys, args, durable, tries)
        except rex.ResponseError as exc:
            if self._legacy or not lua.source.startswith(b"#!") or not refuses_flags(exc):
                raise
            self._legacy = True
            log.warning(
                "this Redis (< 7.0) cannot read script flags: running the scripts without "
                "allow-oom, so workers cannot drain a Redis that reached maxmemory",
                error=str(exc),
            )
            return await self._run(script(name, True), keys, args, durable, tries)

    async def _run(
        self, lua: LeanScript, keys: Sequence[str], args: Sequence[Any], durable: bool, tries: int
    ) -> Any:
        for attempt in range(tries + 1):
            try:
                if durable and self._wait_replicas > 0:
                    return await self._run_replicated(lua, keys, args)
                return await self._runner.evalsha(lua, keys, args)
            except _RETRYABLE:
                if attempt == tries:
                    raise
                await asyncio.sleep(min(1.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")

    async def _run_replicated(
        self, lua: LeanScript, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        wanted, timeout_ms = self._wait_replicas, self._wait_timeout_ms
        reply, acked = await self._runner.evalsha_wait(lua, keys, args, wanted, timeout_ms)
        if acked == DEMOTED:
            raise ReplicationTimeout(
                "the server that took the write became a replica before any replica "
                "acknowledged it (a failover is under way): it may be lost (enqueue again with "
                "the same job_id to be sure; it is idempotent)"
            )
        if acked < wanted:
            raise ReplicationTimeout(
                f"the write reached the master but only {acked} of {wanted} replica(s) "
                f"acknowledged it within {timeout_ms} ms: it may be lost if the master fails "
                "now (enqueue again with the same job_id to be sure; it is idempotent)"
            )
        return reply
