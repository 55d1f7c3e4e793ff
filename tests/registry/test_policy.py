"""Judging a rollout step: hold, advance, or roll back on a breach of the gates."""

from __future__ import annotations

from scaleserve.registry.policy import judge
from scaleserve.registry.records import Gates, Rollout, RolloutPolicy, RolloutStep
from scaleserve.registry.window import WindowTally

STABLE, CANDIDATE = "m@1", "m@2"
LANES = (STABLE, CANDIDATE)


def rollout(*steps: RolloutStep, auto_promote: bool = True, **gates: float) -> Rollout:
    policy = RolloutPolicy(steps=steps, gates=Gates(**gates), auto_promote=auto_promote)  # type: ignore[arg-type]
    return Rollout("2", policy, step=0, step_started_at=100.0, started_at=100.0)


def tally(
    stable: tuple[int, int, float],
    candidate: tuple[int, int, float],
    agreed: int = 0,
    disagreed: int = 0,
) -> WindowTally:
    """(requests, errors, latency_s) per lane."""
    window = WindowTally(agreed=agreed, disagreed=disagreed)
    for lane, (requests, errors, latency_s) in ((STABLE, stable), (CANDIDATE, candidate)):
        for i in range(requests):
            window.lane(lane).observe(latency_s, ok=i >= errors)
    return window


def test_a_step_holds_until_it_has_enough_requests_and_time() -> None:
    step = RolloutStep(weight=10, min_requests=50, min_duration_s=30)
    current = rollout(step, min_samples=20)
    assert judge(current, tally((100, 0, 0.01), (60, 0, 0.01)), *LANES, 110).action == "hold"
    verdict = judge(current, tally((100, 0, 0.01), (40, 0, 0.01)), *LANES, 200)
    assert verdict.action == "hold" and "40 of 50" in verdict.reason
    verdict = judge(current, tally((100, 0, 0.01), (60, 0, 0.01)), *LANES, 200)
    assert verdict.action == "advance"
    assert verdict.numbers["candidate"]["requests"] == 60


def test_errors_over_the_stable_rate_roll_back_at_once() -> None:
    current = rollout(RolloutStep(weight=10, min_requests=1000), min_samples=20)
    verdict = judge(current, tally((200, 2, 0.01), (40, 4, 0.01)), *LANES, 101)
    assert verdict.action == "rollback"
    assert "error rate 10.00%" in verdict.reason and "1.00%" in verdict.reason
    assert verdict.numbers["candidate"]["errors"] == 4
    # the same rate on fewer samples than the minimum is not judged yet
    assert judge(current, tally((200, 2, 0.01), (10, 1, 0.01)), *LANES, 101).action == "hold"


def test_a_slower_candidate_rolls_back() -> None:
    current = rollout(RolloutStep(weight=10), min_samples=20, max_p95_ratio=1.5, p95_slack_ms=5)
    verdict = judge(current, tally((100, 0, 0.020), (50, 0, 0.060)), *LANES, 200)
    assert verdict.action == "rollback" and "p95" in verdict.reason
    # within the ratio plus the slack: fine
    assert judge(current, tally((100, 0, 0.020), (50, 0, 0.032)), *LANES, 200).action == "advance"


def test_shadow_disagreement_rolls_back_and_a_shadow_step_waits_for_comparisons() -> None:
    current = rollout(RolloutStep(shadow=100), min_samples=20, min_agreement=0.99)
    waiting = judge(current, tally((100, 0, 0.01), (30, 0, 0.01), agreed=10), *LANES, 200)
    assert waiting.action == "hold" and "shadow comparisons" in waiting.reason
    bad = judge(current, tally((100, 0, 0.01), (30, 0, 0.01), 25, 5), *LANES, 200)
    assert bad.action == "rollback" and "agreement 83.33%" in bad.reason
    good = judge(current, tally((100, 0, 0.01), (30, 0, 0.01), 30, 0), *LANES, 200)
    assert good.action == "advance"


def test_a_manual_last_step_waits_to_be_promoted() -> None:
    current = rollout(RolloutStep(weight=50), auto_promote=False, min_samples=5)
    verdict = judge(current, tally((50, 0, 0.01), (50, 0, 0.01)), *LANES, 200)
    assert verdict.action == "hold" and "by hand" in verdict.reason
