"""State transitions of swaps and rollouts, with the events that explain them."""

from __future__ import annotations

import pytest

from scaleserve.errors import Conflict, RequestError
from scaleserve.registry import deploy
from scaleserve.registry.records import ModelState, RolloutPolicy, RolloutStep

STEPS = RolloutPolicy(steps=(RolloutStep(shadow=100), RolloutStep(weight=20)))
SERVING = ModelState("m", {"production": "1"}, revision=4)


def test_a_swap_completes_or_is_refused() -> None:
    swapping, [asked] = deploy.request_swap(SERVING, "2", "admin:k", 10.0, "alias moved")
    assert swapping.swap is not None and swapping.stable == "1" and asked.action == "swap-requested"
    assert swapping.serving_versions() == ["1", "2"]
    done, [event] = deploy.complete_swap(swapping, 12.0, {"warm_after_s": 2.0})
    assert done.stable == "2" and done.swap is None
    assert event.detail == {"from": "1", "to": "2", "warm_after_s": 2.0}
    refused, [event] = deploy.refuse_swap(swapping, 12.0, "its load() failed: boom")
    assert refused.stable == "1" and refused.swap is None
    assert "boom" in event.reason and "version 1 keeps serving" in event.reason
    with pytest.raises(Conflict, match="already"):
        deploy.request_swap(swapping, "3", "admin:k", 11.0, "alias moved")
    with pytest.raises(Conflict, match="production already"):
        deploy.request_swap(SERVING, "1", "admin:k", 11.0, "alias moved")


def test_a_rollout_steps_then_promotes_through_a_swap() -> None:
    rolling, [started] = deploy.start_rollout(SERVING, "2", STEPS, "admin:k", 10.0)
    assert rolling.aliases == {"production": "1", "canary": "2"}
    assert "step 1/2, shadow 100%" in started.reason
    stepped, [step] = deploy.advance(rolling, 20.0, "step 1 passed its gates", {"n": 1})
    assert stepped.rollout is not None and stepped.rollout.step == 1
    assert stepped.rollout.step_started_at == 20.0 and "weight 20%" in step.reason
    promoted, [event] = deploy.advance(stepped, 30.0, "step 2 passed its gates", {"n": 2})
    assert event.action == "promoted" and promoted.rollout is None
    assert promoted.swap is not None and promoted.swap.to == "2"
    done, _ = deploy.complete_swap(promoted, 31.0, {})
    assert done.aliases == {"production": "2"}


def test_a_rollback_leaves_production_alone() -> None:
    rolling, _ = deploy.start_rollout(SERVING, "2", STEPS, "admin:k", 10.0)
    back, [event] = deploy.rollback(rolling, "policy", 11.0, "error rate", {"errors": 9})
    assert back.aliases == {"production": "1"} and back.rollout is None
    assert event.actor == "policy" and event.detail["errors"] == 9
    assert back.serving_versions() == ["1"]


def test_rollouts_refuse_what_makes_no_sense() -> None:
    with pytest.raises(RequestError, match="no production"):
        deploy.start_rollout(ModelState("m"), "2", STEPS, "admin:k", 1.0)
    with pytest.raises(Conflict, match="production already"):
        deploy.start_rollout(SERVING, "1", STEPS, "admin:k", 1.0)
    rolling, _ = deploy.start_rollout(SERVING, "2", STEPS, "admin:k", 1.0)
    with pytest.raises(Conflict, match="in progress"):
        deploy.start_rollout(rolling, "3", STEPS, "admin:k", 1.0)
    with pytest.raises(Conflict, match="no rollout"):
        deploy.promote(SERVING, "admin:k", 1.0, "by hand")
    paused, [event] = deploy.set_paused(rolling, True, "admin:k", 5.0)
    assert paused.rollout is not None and paused.rollout.paused and event.action == "paused"
    with pytest.raises(Conflict, match="paused"):
        deploy.set_paused(paused, True, "admin:k", 6.0)


def test_a_running_rollout_takes_a_new_policy_at_its_step() -> None:
    rolling, _ = deploy.start_rollout(SERVING, "2", STEPS, "admin:k", 10.0)
    stepped, _ = deploy.advance(rolling, 20.0, "passed", {})
    shorter = RolloutPolicy(steps=(RolloutStep(weight=50),), sticky="tenant")
    changed, [event] = deploy.change_policy(stepped, shorter, "admin:k", 30.0)
    assert changed.rollout is not None
    assert (changed.rollout.step, changed.rollout.step_started_at) == (0, 30.0)
    assert changed.rollout.policy.sticky == "tenant"
    assert event.action == "policy-changed" and "weight 50%" in event.reason
    with pytest.raises(Conflict, match="no rollout"):
        deploy.change_policy(SERVING, shorter, "admin:k", 1.0)
