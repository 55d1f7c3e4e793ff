"""The dashboard's rows for what the metrics do not tell: rollouts from the registry's
model states, and each tenant's usage and cost today from the usage report's rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from scaleserve.registry.records import ModelState


class UsageLike(Protocol):
    """A usage report row (``scaleserve.api.usage.UsageRow``): one tenant's use of one model."""

    @property
    def tenant(self) -> str: ...
    @property
    def requests(self) -> int: ...
    @property
    def items(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def compute_s(self) -> float: ...
    @property
    def tokens(self) -> int: ...
    @property
    def cost(self) -> float | None: ...


def usage_by_tenant(rows: Iterable[UsageLike]) -> list[dict[str, Any]]:
    """Each tenant's usage summed over its models; ``cost`` is ``None`` when no model it
    used has a price."""
    tenants: dict[str, dict[str, Any]] = {}
    for row in rows:
        total = tenants.setdefault(
            row.tenant,
            {"tenant": row.tenant, "requests": 0, "items": 0, "errors": 0, "compute_s": 0.0,
             "tokens": 0, "cost": None},
        )  # fmt: skip
        for name in ("requests", "items", "errors", "compute_s", "tokens"):
            total[name] += getattr(row, name)
        if row.cost is not None:
            total["cost"] = (total["cost"] or 0.0) + row.cost
    return [tenants[name] for name in sorted(tenants)]


def rollout_rows(states: Iterable[ModelState]) -> list[dict[str, Any]]:
    """Each registry model's stable version, candidate, traffic split and state."""
    return [_rollout_row(state) for state in sorted(states, key=lambda s: s.model)]


def _rollout_row(state: ModelState) -> dict[str, Any]:
    rollout = state.rollout
    row: dict[str, Any] = {
        "model": state.model,
        "stable": state.stable,
        "candidate": rollout.candidate if rollout else None,
        "weight": rollout.current.weight if rollout else 0.0,
        "shadow": rollout.current.shadow if rollout else 0.0,
        "step": rollout.step + 1 if rollout else None,
        "steps": len(rollout.policy.steps) if rollout else None,
        "swap_to": state.swap.to if state.swap else None,
    }
    if state.swap is not None:
        row["state"] = "swapping"
    elif rollout is None:
        row["state"] = "stable"
    else:
        row["state"] = "paused" if rollout.paused else "rolling out"
    return row
