"""Tenant labels on metrics: the busiest get their own, the rest ``other``, and the number
given out is bounded whatever the traffic does."""

from __future__ import annotations

import random

from scaleserve.observe.tenant_labels import OTHER, TenantLabels


def test_the_busiest_tenants_get_their_own_label() -> None:
    labels = TenantLabels(top=3)
    rng = random.Random(7)
    traffic = ["big"] * 500 + ["mid"] * 300 + ["small"] * 100 + [f"t{i}" for i in range(400)]
    rng.shuffle(traffic)
    seen = [(tenant, labels.label(tenant)) for tenant in traffic]
    late = dict(seen[-300:])
    assert late.get("big") == "big"
    assert late.get("mid") == "mid"
    given = {label for _, label in seen} - {OTHER}
    assert len(given) <= 6


def test_labels_stay_bounded_when_the_busiest_keep_changing() -> None:
    labels = TenantLabels(top=5)
    given: set[str] = set()
    for wave in range(100):  # each wave a new set of busy tenants
        for _ in range(300):
            given.add(labels.label(f"wave{wave}-{random.randrange(5)}"))
    assert len(given - {OTHER}) <= 10
    assert OTHER in given


def test_a_tenant_keeps_its_label() -> None:
    labels = TenantLabels(top=1)
    assert labels.label("first") == "first"
    for _ in range(5000):
        labels.label("second")
    assert labels.label("first") == "first"


def test_no_tenant_labels_when_top_is_zero() -> None:
    labels = TenantLabels(top=0)
    assert {labels.label(f"t{i}") for i in range(100)} == {OTHER}
