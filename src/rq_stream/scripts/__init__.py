"""Lua scripts, one file per state change, loaded once as redis-py ``Script`` objects.

A line ``-- @include name`` in a script is replaced by ``lib/name.lua`` (shared helpers), so each
operation stays one self-contained script on the server. ``Script`` re-loads itself on NOSCRIPT
(after a restart or a failover).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_INCLUDE = re.compile(r"^-- @include (\w+)$", re.MULTILINE)


@functools.cache
def source(name: str) -> str:
    root = resources.files(__package__)
    text = (root / f"{name}.lua").read_text()

    def include(match: re.Match[str]) -> str:
        return (root / "lib" / f"{match.group(1)}.lua").read_text()

    return _INCLUDE.sub(include, text)


class Scripts:
    """The scripts registered on one client; call ``await scripts.run(name, keys, args)``."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._loaded: dict[str, AsyncScript] = {}

    def get(self, name: str) -> AsyncScript:
        script = self._loaded.get(name)
        if script is None:
            script = cast(AsyncScript, self._client.register_script(source(name)))
            self._loaded[name] = script
        return script

    async def run(
        self, name: str, keys: Sequence[str], args: Sequence[Any], client: Any = None
    ) -> Any:
        return await self.get(name)(keys=list(keys), args=list(args), client=client)
