"""Lua scripts, one file per state change, run over the lean pipelined client (one server) or
redis-py (Cluster, which routes each script by its keys, and Sentinel, on the master).

A line ``-- @include name`` in a script is replaced by ``lib/name.lua`` (shared helpers), so each
operation stays one self-contained script on the server. Scripts are sent as EVALSHA and loaded
on NOSCRIPT (after a restart or a failover). A call that loses its connection is retried a few
times with jittered backoff: every script is idempotent or fenced (enqueue by job id, finishing
by XACK and the attempt counter), so a re-sent script acts once.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, Protocol

from redis import exceptions as rex
from redis.asyncio import Redis

from ..errors import IncompleteInstallation, ReplicationTimeout
from ..lean import LeanClient, LeanScript

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
def script(name: str) -> LeanScript:
    return LeanScript(source(name))


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
        return reply, int(await self._client.execute(b"WAIT", replicas, timeout_ms))


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

    async def run(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, durable: bool = False
    ) -> Any:
        lua = script(name)
        for attempt in range(self._retries + 1):
            try:
                if durable and self._wait_replicas > 0:
                    return await self._run_replicated(lua, keys, args)
                return await self._runner.evalsha(lua, keys, args)
            except _RETRYABLE:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(min(1.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")

    async def _run_replicated(
        self, lua: LeanScript, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        wanted, timeout_ms = self._wait_replicas, self._wait_timeout_ms
        reply, acked = await self._runner.evalsha_wait(lua, keys, args, wanted, timeout_ms)
        if acked < wanted:
            raise ReplicationTimeout(
                f"the write reached the master but only {acked} of {wanted} replica(s) "
                f"acknowledged it within {timeout_ms} ms: it may be lost if the master fails "
                "now (enqueue again with the same job_id to be sure; it is idempotent)"
            )
        return reply
