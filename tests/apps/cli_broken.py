"""An app module whose import fails (a dependency is missing)."""

from __future__ import annotations

import rq_stream_no_such_dependency  # type: ignore[import-not-found]  # noqa: F401
