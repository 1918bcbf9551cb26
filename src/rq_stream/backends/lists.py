"""Redis lists backend (BLMOVE into per-worker processing lists). Not written yet."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError


class ListsBackend:
    kind = "lists"

    def __init__(self, *args: Any) -> None:
        raise ConfigurationError("the lists backend is not available yet")
