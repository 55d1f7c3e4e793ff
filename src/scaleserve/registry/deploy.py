"""How a model's serving state changes: swaps of ``production``, rollouts and their steps,
promotion and rollback. Pure functions from a state to the next state and the events that
explain it; the ``Registry`` commits them (compare-and-set on the revision).

Every move of ``production`` is a swap: it is requested, and completed only once the new
version has a warm worker (so a swap fails no request), or refused when the version cannot
load, leaving the old one serving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from scaleserve.errors import Conflict, RequestError
from scaleserve.registry.records import (
    CANDIDATE,
    STABLE,
    Event,
    ModelState,
    Rollout,
    RolloutPolicy,
    Swap,
)

Change = tuple[ModelState, list[Event]]


def _event(
    state: ModelState,
    now: float,
    action: str,
    actor: str,
    reason: str,
    *,
    detail: Mapping[str, Any] | None = None,
) -> Event:
    return Event(state.model, now, action, actor, reason, dict(detail or {}))


def _busy(state: ModelState, what: str) -> None:
    if state.rollout is not None:
        raise Conflict(
            f"model {state.model!r} has a rollout of version {state.rollout.candidate} in "
            f"progress; promote it or roll it back before {what}"
        )
    if state.swap is not None:
        raise Conflict(
            f"model {state.model!r} is already swapping to version {state.swap.to}; wait for "
            f"it to finish before {what}"
        )


def request_swap(state: ModelState, to: str, actor: str, now: float, reason: str) -> Change:
    """Ask for ``production`` to move to ``to`` once it is warm."""
    _busy(state, "moving production")
    if state.stable == to:
        raise Conflict(f"version {to} of {state.model!r} is production already")
    swap = Swap(to, now, actor, reason)
    event = _event(
        state, now, "swap-requested", actor, reason, detail={"from": state.stable, "to": to}
    )
    return dataclasses.replace(state, swap=swap), [event]


def complete_swap(state: ModelState, now: float, detail: Mapping[str, Any]) -> Change:
    """The swap's version is warm: it is ``production`` now; the old one drains."""
    if state.swap is None:
        raise Conflict(f"model {state.model!r} has no swap in progress")
    to, old = state.swap.to, state.stable
    aliases = {**state.aliases, STABLE: to}
    if aliases.get(CANDIDATE) == to:
        del aliases[CANDIDATE]
    reason = f"version {to} is warm and answers every request" + (
        f"; version {old} drains and stops" if old else ""
    )
    event = _event(
        state, now, "swapped", "scaleserve", reason, detail={"from": old, "to": to, **detail}
    )
    return dataclasses.replace(state, aliases=aliases, swap=None), [event]


def refuse_swap(state: ModelState, now: float, why: str) -> Change:
    """The swap's version could not get warm: ``production`` stays where it was."""
    if state.swap is None:
        raise Conflict(f"model {state.model!r} has no swap in progress")
    to = state.swap.to
    reason = f"version {to} was refused: {why}; version {state.stable} keeps serving"
    event = _event(state, now, "swap-refused", "scaleserve", reason, detail={"to": to, "why": why})
    aliases = {k: v for k, v in state.aliases.items() if not (k == CANDIDATE and v == to)}
    return dataclasses.replace(state, aliases=aliases, swap=None), [event]


def start_rollout(
    state: ModelState, candidate: str, policy: RolloutPolicy, actor: str, now: float
) -> Change:
    """Start sending the candidate a share of the traffic, step by step."""
    _busy(state, "starting another rollout")
    if state.stable is None:
        raise RequestError(
            f"model {state.model!r} has no production version to compare a candidate with; "
            "set one with `scaleserve models alias NAME production VERSION`"
        )
    if candidate == state.stable:
        raise Conflict(f"version {candidate} of {state.model!r} is production already")
    if not policy.steps:
        raise RequestError("a rollout policy needs at least one step")
    rollout = Rollout(candidate, policy, 0, now, now, actor)
    aliases = {**state.aliases, CANDIDATE: candidate}
    detail = {"from": state.stable, "to": candidate, "steps": len(policy.steps)}
    reason = f"rollout of version {candidate} started: {describe_step(rollout)}"
    event = _event(state, now, "rollout-started", actor, reason, detail=detail)
    return dataclasses.replace(state, aliases=aliases, rollout=rollout), [event]


def advance(state: ModelState, now: float, reason: str, numbers: Mapping[str, Any]) -> Change:
    """The step held and passed its gates: the next step, or promotion after the last."""
    rollout = _rollout(state)
    if rollout.step + 1 >= len(rollout.policy.steps):
        return promote(state, "policy", now, reason, numbers)
    moved = dataclasses.replace(rollout, step=rollout.step + 1, step_started_at=now)
    detail = {"step": moved.step, **numbers}
    event = _event(
        state, now, "step", "policy", f"{reason}; now {describe_step(moved)}", detail=detail
    )
    return dataclasses.replace(state, rollout=moved), [event]


def promote(
    state: ModelState, actor: str, now: float, reason: str, numbers: Mapping[str, Any] | None = None
) -> Change:
    """The candidate becomes ``production`` (a swap, completed at once when it is warm)."""
    rollout = _rollout(state)
    swap = Swap(rollout.candidate, now, actor, "promoted")
    detail = {"from": state.stable, "to": rollout.candidate, **(numbers or {})}
    event = _event(state, now, "promoted", actor, reason, detail=detail)
    return dataclasses.replace(state, rollout=None, swap=swap), [event]


def rollback(
    state: ModelState, actor: str, now: float, reason: str, numbers: Mapping[str, Any] | None = None
) -> Change:
    """Stop the rollout: every request goes to ``production`` again; the candidate drains."""
    rollout = _rollout(state)
    aliases = {k: v for k, v in state.aliases.items() if k != CANDIDATE}
    detail = {"candidate": rollout.candidate, "stable": state.stable, **(numbers or {})}
    event = _event(state, now, "rolled-back", actor, reason, detail=detail)
    return dataclasses.replace(state, aliases=aliases, rollout=None), [event]


def set_paused(state: ModelState, paused: bool, actor: str, now: float) -> Change:
    rollout = _rollout(state)
    if rollout.paused == paused:
        raise Conflict(f"the rollout of {state.model!r} is {'paused' if paused else 'running'}")
    # a resumed step starts afresh: its window must not count the time it stood still
    moved = dataclasses.replace(rollout, paused=paused, step_started_at=now)
    action = "paused" if paused else "resumed"
    event = _event(
        state, now, action, actor, f"rollout {action} by hand", detail={"step": rollout.step}
    )
    return dataclasses.replace(state, rollout=moved), [event]


def change_policy(state: ModelState, policy: RolloutPolicy, actor: str, now: float) -> Change:
    """Replace a running rollout's policy; it goes on at the same step (or the new policy's
    last), whose window starts afresh."""
    rollout = _rollout(state)
    step = min(rollout.step, len(policy.steps) - 1)
    moved = dataclasses.replace(rollout, policy=policy, step=step, step_started_at=now)
    reason = f"policy changed by hand; now {describe_step(moved)}"
    event = _event(state, now, "policy-changed", actor, reason, detail={"step": step})
    return dataclasses.replace(state, rollout=moved), [event]


def describe_step(rollout: Rollout) -> str:
    step = rollout.current
    parts = [f"step {rollout.step + 1}/{len(rollout.policy.steps)}"]
    if step.shadow:
        parts.append(f"shadow {step.shadow:g}%")
    parts.append(f"weight {step.weight:g}%")
    return ", ".join(parts)


def _rollout(state: ModelState) -> Rollout:
    if state.rollout is None:
        raise Conflict(f"model {state.model!r} has no rollout in progress")
    return state.rollout
