"""The ``Prefer`` request header (RFC 7240): the ``wait`` preference.

``Prefer: wait=30`` asks the server to hold its answer up to 30 seconds for the work to end
(``POST /v1/jobs``, ``GET /v1/jobs/{id}``), so that a client gets a job's result in one
request instead of polling. Preferences are hints: an unknown one, or a ``wait`` that is
not a non-negative whole number, is ignored, as the RFC asks.
"""

from __future__ import annotations

PREFER_HEADER = "prefer"
_MAX_HEADER_CHARS = 1024


def preferred_wait_s(value: str | None, max_wait_s: float) -> float | None:
    """Seconds the client prefers to wait (at most ``max_wait_s``), ``None`` when it did not
    ask to wait."""
    if not value or len(value) > _MAX_HEADER_CHARS:
        return None
    for preference in value.split(","):
        name, _, raw = preference.split(";", 1)[0].strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        raw = raw.strip().strip('"')
        if raw.isdigit() and raw.isascii() and len(raw) <= 9:
            return min(float(raw), max_wait_s)
    return None


def preference_applied(wait_s: float) -> str:
    """The ``Preference-Applied`` value for a wait that was honoured."""
    return f"wait={int(wait_s)}"
