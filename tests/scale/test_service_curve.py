"""A worker's service curve: its rate at a full batch, read off the batches it ran, so that a
batching model's half-empty batches do not make it look slow."""

from __future__ import annotations

import random

import pytest

from scaleserve import Autoscale
from scaleserve.scale.autoscale import ModelScaler
from scaleserve.scale.service_curve import ServiceCurve
from scaleserve.types import QueueLoad


def _batches(seconds_for: dict[int, float], count: int = 40) -> list[tuple[int, float]]:
    rng = random.Random(3)
    sizes = list(seconds_for)
    return [
        (size, seconds_for[size] * rng.uniform(0.97, 1.03))
        for size in (rng.choice(sizes) for _ in range(count))
    ]


def test_a_model_that_takes_as_long_for_many_items_as_for_one_is_fast_at_a_full_batch() -> None:
    curve = ServiceCurve.fit(_batches({1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2}))
    assert curve is not None
    assert curve.items_per_s(8) == pytest.approx(40, rel=0.1)  # 8 items per 0.2 s


def test_a_model_whose_time_grows_with_the_items_is_as_fast_as_its_time_per_item() -> None:
    curve = ServiceCurve.fit(_batches({1: 0.01, 4: 0.04, 8: 0.08, 16: 0.16}))
    assert curve is not None
    assert curve.items_per_s(32) == pytest.approx(100, rel=0.1)


def test_the_rate_is_read_at_no_more_than_twice_the_largest_batch_seen() -> None:
    curve = ServiceCurve.fit(_batches({1: 0.2, 2: 0.2}))
    assert curve is not None
    assert curve.items_per_s(64) == pytest.approx(4 / 0.2, rel=0.1)


def test_one_batch_size_only_is_taken_as_time_growing_with_the_items() -> None:
    curve = ServiceCurve.fit([(4, 0.2)] * 10)
    assert curve is not None and curve.items_per_s(16) == pytest.approx(20)


def test_too_few_batches_tell_nothing() -> None:
    assert ServiceCurve.fit([(1, 0.2)] * 3) is None


def test_workers_with_half_empty_batches_are_not_taken_for_slow_ones() -> None:
    """Six workers sharing 30 items/s run batches of one or two items, 200 ms each: measured
    at those batches a worker serves 7 items/s and the fleet looks too small; read at twice
    the largest batch seen (4 items) it serves 20/s, and two workers are enough (their
    batches then grow, and the curve with them)."""
    policy = Autoscale(min_workers=1, max_workers=6, target_p95_ms=1000, down_stabilization_s=2)
    scaler = ModelScaler(policy, max_batch_size=8)
    batches = tuple(_batches({1: 0.2, 2: 0.2}, count=64))
    desired = 6
    for tick in range(1, 21):
        at = tick * 0.25
        load = QueueLoad(at, 0, 2, int(30 * at), int(30 * at) - 2, 0.2 * tick, 6, batches)
        desired = scaler.decide(load, current=desired).desired
    assert desired == 2
