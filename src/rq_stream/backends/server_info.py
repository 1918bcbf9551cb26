"""What the connected server supports (the lists backend asks whether it has BLMOVE)."""

from __future__ import annotations

import itertools

from redis import exceptions as rex
from redis.asyncio import Redis


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(itertools.takewhile(str.isdigit, piece))
        parts.append(int(digits or 0))
    return tuple(parts)


async def server_has_command(client: Redis, name: str) -> bool:
    """Whether the server knows a command: ``COMMAND INFO``, else its version (BLMOVE: 6.2)."""
    try:
        reply = await client.execute_command("COMMAND", "INFO", name)
    except TypeError:  # redis-py cannot parse the nil entry an unknown command gets
        return False
    except rex.ResponseError:  # COMMAND renamed or denied by an ACL: go by the version
        info = await client.info("server")
        return _version(str(info.get("redis_version", "0"))) >= (6, 2)
    if isinstance(reply, dict):
        return any(_s(key).lower() == name.lower() for key in reply)
    if isinstance(reply, list):
        return bool(reply) and reply[0] is not None
    return bool(reply)
