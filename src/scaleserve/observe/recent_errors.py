"""The last failed requests the gateway answered (5xx), for the dashboard: when, which
model and version, which tenant, the status and the error's message (never the input)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

KEPT = 50
MAX_DETAIL_CHARS = 300


class RecentErrors:
    def __init__(self, kept: int = KEPT, clock: Callable[[], float] = time.time) -> None:
        self._errors: deque[dict[str, Any]] = deque(maxlen=kept)
        self._clock = clock

    def add(self, model: str, version: str, tenant: str, code: int, detail: str) -> None:
        self._errors.append(
            {
                "at": self._clock(),
                "model": model,
                "version": version,
                "tenant": tenant,
                "code": code,
                "detail": detail[:MAX_DETAIL_CHARS],
            }
        )

    def rows(self) -> list[dict[str, Any]]:
        """Newest first."""
        return list(reversed(self._errors))
