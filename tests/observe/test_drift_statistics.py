"""Drift monitoring's statistics: shifts caught within a stated number of items, and streams
without a shift that raise no alert (the false-alarm rate, measured and printed).

Defaults throughout (reference 4,000 items, recent window 2,000 to 4,000, thresholds KS 0.1,
PSI 0.2, JS 0.1, mean shift 0.1, raised to each score's noise floor); no sampling, so an item
offered is an item summarised; ``check()`` every 50 items, as a gateway might each second.
Each stream runs 4,000 reference items and 2,000 more before its shift begins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from scaleserve.observe.drift import DriftMonitor, DriftSpec

SPEC = DriftSpec(max_items_per_s=None)
COUNTRIES = ["fr", "de", "us", "jp", "br", "in"]
P_COUNTRIES = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
SEGMENTS = [f"segment-{i}" for i in range(30)]  # many categories: JS is noisier
P_SEGMENTS = 1 / np.arange(1, 31) / (1 / np.arange(1, 31)).sum()
DIM = 16
BATCH = 50


def stream(
    rng: np.random.Generator,
    n: int,
    *,
    age_shift_sd: float = 0.0,
    countries: np.ndarray = P_COUNTRIES,
    extra_words: int = 0,
    rotate_rad: float = 0.0,
    offset: float = 0.0,
    noise: float = 1.0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Items of a made-up model: tabular and text inputs; a score, a flag and an embedding out."""
    age = rng.normal(40 + 10 * age_shift_sd, 10, n)
    income = rng.lognormal(10, 1, n)
    clicks = rng.poisson(3, n)
    country = rng.choice(COUNTRIES, size=n, p=countries)
    segment = rng.choice(SEGMENTS, size=n, p=P_SEGMENTS)
    words = rng.integers(5 + extra_words, 40 + extra_words, n)
    inputs = [
        {
            "age": float(a),
            "income": float(i),
            "clicks": int(c),
            "country": str(co),
            "segment": str(s),
            "query": "drift " * int(w),
        }
        for a, i, c, co, s, w in zip(age, income, clicks, country, segment, words, strict=True)
    ]
    embedding = rng.normal(scale=noise, size=(n, DIM))
    embedding[:, 0] += 2.0  # a common direction, as real embeddings have
    cos, sin = np.cos(rotate_rad), np.sin(rotate_rad)
    embedding[:, :2] = embedding[:, :2] @ np.array([[cos, sin], [-sin, cos]])
    embedding[:, 1] += offset
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    score, flag = rng.beta(2, 5, n), rng.random(n) < 0.3
    outputs = [
        {"score": float(s), "flag": bool(f), "embedding": e.tolist()}
        for s, f, e in zip(score, flag, embedding, strict=True)
    ]
    return inputs, outputs


def items_until_alert(seed: int, feature: str, **shift: Any) -> int | None:
    """Items after the shift began until an alert on ``feature`` (or one derived from it)."""
    rng = np.random.default_rng(seed)
    drift = DriftMonitor("model", "1", SPEC, clock=lambda: 0.0)
    drift.observe(*stream(rng, 6_000))
    assert drift.check() == []
    inputs, outputs = stream(rng, 4_000, **shift)
    for start in range(0, len(inputs), BATCH):
        drift.observe(inputs[start : start + BATCH], outputs[start : start + BATCH])
        alerts = drift.check()
        if any(alert.feature.startswith(feature) for alert in alerts):
            return start + BATCH
    return None


SHIFTS: dict[str, tuple[str, dict[str, Any], int]] = {
    # name: (feature alerted, shift, items within which every seed must alert)
    "numeric mean +1 sd": ("input.age", {"age_shift_sd": 1.0}, 1_500),
    "label frequencies": (
        "input.country",
        {"countries": np.array([0.1, 0.25, 0.2, 0.3, 0.1, 0.05])},
        2_000,
    ),
    "text length +10 words": ("input.query", {"extra_words": 10}, 1_500),
    "embeddings rotated 45 degrees": ("output.embedding", {"rotate_rad": np.pi / 4}, 2_000),
    "embeddings offset": ("output.embedding", {"offset": 2.0}, 1_500),
    "embeddings spread 1.5x": ("output.embedding", {"noise": 1.5}, 2_500),
}


@pytest.mark.parametrize("name", SHIFTS)
def test_a_shift_is_caught_within_the_stated_items(name: str) -> None:
    feature, shift, bound = SHIFTS[name]
    delays = [items_until_alert(seed, feature, **shift) for seed in range(5)]
    print(f"{name}: alerted after {delays} items (bound {bound})")
    assert all(delay is not None and delay <= bound for delay in delays)


def false_alarm(seed: int, on_score: Callable[[str, float, float], None]) -> bool:
    """Whether 20,000 items without a shift raised any alert."""
    rng = np.random.default_rng(10_000 + seed)
    drift = DriftMonitor("model", "1", SPEC, clock=lambda: 0.0)
    inputs, outputs = stream(rng, 20_000)
    alerted = False
    for start in range(0, len(inputs), 250):
        drift.observe(inputs[start : start + 250], outputs[start : start + 250])
        alerted |= bool(drift.check())
        for score in drift.last_scores:
            on_score(f"{score.feature} {score.statistic}", score.value, score.threshold)
    return alerted


def test_streams_without_a_shift_raise_no_alert() -> None:
    runs = 50
    highest: dict[str, tuple[float, float]] = {}

    def keep_highest(name: str, value: float, threshold: float) -> None:
        if value > highest.get(name, (0.0, 0.0))[0]:
            highest[name] = (value, threshold)

    alarms = sum(false_alarm(seed, keep_highest) for seed in range(runs))
    rate = alarms / runs
    print(f"false alarms: {alarms} of {runs} streams of 20,000 items ({rate:.1%})")
    for name, (value, threshold) in sorted(highest.items()):
        print(f"  highest {name}: {value:.3f} (its threshold then {threshold:.3f})")
    assert rate <= 0.02
