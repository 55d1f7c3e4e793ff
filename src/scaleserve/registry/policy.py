"""Judging a rollout step: roll back on a breach, hold until the step has held long enough
with enough samples, then advance (or promote after the last step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from scaleserve.registry.records import Rollout
from scaleserve.registry.window import LaneTally, WindowTally

Action = Literal["hold", "advance", "rollback"]


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)


def judge(
    rollout: Rollout, tally: WindowTally, stable_lane: str, candidate_lane: str, now: float
) -> Verdict:
    """The verdict on the rollout's current step from this window's ``tally``."""
    gates, step = rollout.policy.gates, rollout.current
    stable, candidate = tally.lane(stable_lane), tally.lane(candidate_lane)
    numbers = _numbers(stable, candidate, tally, now - rollout.step_started_at)
    breach = _breach(rollout, stable, candidate, tally)
    if breach is not None:
        return Verdict("rollback", breach, numbers)
    held_s = now - rollout.step_started_at
    if held_s < step.min_duration_s:
        return Verdict("hold", f"held {held_s:.0f}s of {step.min_duration_s:g}s", numbers)
    needed = max(step.min_requests, gates.min_samples)
    if candidate.requests < needed:
        return Verdict("hold", f"{candidate.requests} of {needed} candidate requests", numbers)
    if step.shadow > 0 and tally.compared < gates.min_samples:
        why = f"{tally.compared} of {gates.min_samples} shadow comparisons"
        return Verdict("hold", why, numbers)
    last = rollout.step + 1 >= len(rollout.policy.steps)
    if last and not rollout.policy.auto_promote:
        return Verdict("hold", "last step passed; waiting to be promoted by hand", numbers)
    return Verdict("advance", f"step {rollout.step + 1} passed its gates", numbers)


def _breach(
    rollout: Rollout, stable: LaneTally, candidate: LaneTally, tally: WindowTally
) -> str | None:
    gates = rollout.policy.gates
    if candidate.requests < gates.min_samples:
        return None
    allowed = stable.error_rate + gates.max_error_rate_increase
    if candidate.error_rate > allowed:
        return (
            f"error rate {candidate.error_rate:.2%} over the stable version's "
            f"{stable.error_rate:.2%} + {gates.max_error_rate_increase:.2%}"
        )
    agreement = tally.agreement
    enough = tally.compared >= gates.min_samples
    if enough and agreement is not None and agreement < gates.min_agreement:
        return f"shadow agreement {agreement:.2%} under {gates.min_agreement:.2%}"
    stable_p95, candidate_p95 = stable.quantile_s(0.95), candidate.quantile_s(0.95)
    if stable.requests >= gates.min_samples and stable_p95 and candidate_p95:
        bound = stable_p95 * gates.max_p95_ratio + gates.p95_slack_ms / 1000
        if candidate_p95 > bound:
            return (
                f"p95 latency {candidate_p95 * 1000:.1f} ms over the stable version's "
                f"{stable_p95 * 1000:.1f} ms x {gates.max_p95_ratio:g} + {gates.p95_slack_ms:g} ms"
            )
    return None


def _numbers(
    stable: LaneTally, candidate: LaneTally, tally: WindowTally, held_s: float
) -> dict[str, Any]:
    def lane(t: LaneTally) -> dict[str, Any]:
        p95 = t.quantile_s(0.95)
        return {
            "requests": t.requests,
            "errors": t.errors,
            "error_rate": round(t.error_rate, 4),
            "p95_ms": None if p95 is None else round(p95 * 1000, 2),
        }

    agreement = tally.agreement
    return {
        "held_s": round(held_s, 1),
        "stable": lane(stable),
        "candidate": lane(candidate),
        "shadow_compared": tally.compared,
        "shadow_agreement": None if agreement is None else round(agreement, 4),
    }
