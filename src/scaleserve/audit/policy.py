"""Which predictions of a model are audited, and what of them is kept.

``Model.audit = AuditPolicy(...)`` (or ``True`` for the defaults): every failed request,
and ``sample`` of the successful ones; ``inputs``/``outputs`` keep the JSON (``"full"``),
its sha256 only (``"hash"``, the default: what was asked can be proved, not read back), or
nothing (``"none"``). Keys and secrets are never in a record: the request body and the
response body are all it sees.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from scaleserve.errors import ConfigError

Keep = Literal["full", "hash", "none"]
_KEEP = ("full", "hash", "none")


@dataclass(frozen=True)
class AuditPolicy:
    sample: float = 1.0
    """The share of successful requests recorded (0..1)."""
    errors: bool = True
    """Record every failed request (status >= 400), whatever ``sample`` says."""
    inputs: Keep = "hash"
    outputs: Keep = "hash"

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample <= 1.0:
            raise ConfigError(f"AuditPolicy.sample must be within 0..1, not {self.sample!r}")
        for field, value in (("inputs", self.inputs), ("outputs", self.outputs)):
            if value not in _KEEP:
                raise ConfigError(f"AuditPolicy.{field} must be one of {_KEEP}, not {value!r}")

    def wants(self, status: int, draw: float | None = None) -> bool:
        """Whether a request that ended with ``status`` is recorded."""
        if status >= 400:
            return self.errors
        return (random.random() if draw is None else draw) < self.sample  # noqa: S311 - sampling


def audit_policy(declared: Any) -> AuditPolicy | None:
    """A model's ``audit`` attribute as a policy (``None``: not audited)."""
    if declared is None or declared is False:
        return None
    if declared is True:
        return AuditPolicy()
    if isinstance(declared, AuditPolicy):
        return declared
    raise ConfigError(f"audit must be True, False or an AuditPolicy, not {declared!r}")
