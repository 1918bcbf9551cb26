"""Lua scripts, one file per state change, run over the lean pipelined client.

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
from typing import Any

from redis import exceptions as rex

from ..lean import LeanClient, LeanScript

_INCLUDE = re.compile(r"^-- @include (\w+)$", re.MULTILINE)
_RETRYABLE = (rex.ConnectionError, rex.TimeoutError)


@functools.cache
def source(name: str) -> str:
    root = resources.files(__package__)
    text = (root / f"{name}.lua").read_text()

    def include(match: re.Match[str]) -> str:
        return (root / "lib" / f"{match.group(1)}.lua").read_text()

    return _INCLUDE.sub(include, text)


@functools.cache
def script(name: str) -> LeanScript:
    return LeanScript(source(name))


class Scripts:
    """Runs the package's scripts: ``await scripts.run(name, keys, args)``."""

    def __init__(self, client: LeanClient, retries: int = 3) -> None:
        self._client = client
        self._retries = retries

    async def run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        lua = script(name)
        for attempt in range(self._retries + 1):
            try:
                return await self._client.evalsha(lua, keys, args)
            except _RETRYABLE:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(min(1.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")
