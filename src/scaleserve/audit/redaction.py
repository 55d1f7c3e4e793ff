"""What of a prediction's input or output the audit log keeps, by a model's policy."""

from __future__ import annotations

import hashlib

from scaleserve.errors import ConfigError

POLICIES = ("full", "hash", "none")
"""``full``: the JSON text; ``hash``: ``"sha256:<hex>"`` of its bytes; ``none``: nothing."""


def kept(value_json: bytes | str, policy: str) -> str | None:
    """``value_json`` as ``policy`` keeps it; ``ConfigError`` for an unknown policy."""
    if policy == "none":
        return None
    data = value_json.encode() if isinstance(value_json, str) else value_json
    if policy == "hash":
        return "sha256:" + hashlib.sha256(data).hexdigest()
    if policy == "full":
        return value_json if isinstance(value_json, str) else data.decode()
    raise ConfigError(f"{policy[:40]!r} is not an audit redaction policy: one of {POLICIES}")
