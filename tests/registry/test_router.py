"""The router's split: sticky per caller, monotone in the weight, never to a cold candidate."""

from __future__ import annotations

import random

from scaleserve.registry.router import Router, Routes
from scaleserve.registry.ticket import CHOSEN_KEY, of_tenant

VERSIONS = {"m@1": "1", "m@2": "2"}


def routes(**fields: object) -> Routes:
    return Routes("m", "m@1", VERSIONS, candidate="m@2", **fields)  # type: ignore[arg-type]


def router(ready: int = 1) -> Router:
    return Router(lambda lane: ready if lane == "m@2" else 1, random.Random(7))


def test_the_weight_is_the_share_of_callers_and_each_keeps_its_version() -> None:
    split = router()
    split.set_routes(routes(weight=25, sticky="tenant"))
    tenants = [f"tenant-{i}" for i in range(2000)]
    first = {t: split.pick("m", of_tenant(t)).lane for t in tenants}
    share = sum(lane == "m@2" for lane in first.values()) / len(tenants)
    assert 0.21 < share < 0.29
    again = {t: split.pick("m", of_tenant(t)).lane for t in tenants}
    assert again == first  # sticky
    split.set_routes(routes(weight=60, sticky="tenant"))
    later = {t: split.pick("m", of_tenant(t)).lane for t in tenants}
    assert all(later[t] == "m@2" for t in tenants if first[t] == "m@2")  # nobody moves back


def test_a_header_can_be_the_sticky_key() -> None:
    split = router()
    split.set_routes(routes(weight=50, sticky="header:x-user-id"))
    users = [f"user-{i}".encode() for i in range(400)]
    picks = [
        split.pick("m", of_tenant("one-tenant", [(b"x-user-id", user)])).lane for user in users
    ]
    assert 0.4 < picks.count("m@2") / len(picks) < 0.6


def test_a_candidate_without_a_warm_worker_answers_nothing() -> None:
    cold = router(ready=0)
    cold.set_routes(routes(weight=100, shadow=100))
    pick = cold.pick("m", of_tenant("t"))
    assert (pick.lane, pick.shadow_lane) == ("m@1", None)


def test_the_shadow_share_is_drawn_per_request_and_answered_by_the_stable_version() -> None:
    split = router()
    split.set_routes(routes(shadow=30))
    picks = [split.pick("m", None) for _ in range(3000)]
    assert all(p.lane == "m@1" for p in picks)
    share = sum(p.shadow_lane == "m@2" for p in picks) / len(picks)
    assert 0.26 < share < 0.34


def test_every_part_of_a_request_gets_the_same_version() -> None:
    split = router()
    split.set_routes(routes(weight=50, sticky="none"))
    for _ in range(50):
        scope = of_tenant("t")
        lanes = {split.pick("m", scope).lane for _ in range(5)}
        assert len(lanes) == 1
        assert scope[CHOSEN_KEY] == {"m": lanes.pop()}
