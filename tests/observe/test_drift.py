"""Drift monitoring's behaviour: fields, bad values, bounds, references, alerts, metrics.

The statistical checks (shifts caught, false-alarm rate) are in test_drift_statistics.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from scaleserve.errors import ConfigError, RequestError
from scaleserve.observe.drift import (
    DriftAlert,
    DriftCollector,
    DriftMonitor,
    DriftScore,
    DriftSpec,
    FieldKind,
    InvalidSummary,
    Statistic,
    WindowSummary,
)
from scaleserve.observe.drift.alerts import Alarms
from scaleserve.observe.drift.features import FeatureExtractor
from scaleserve.observe.drift.sampler import StrideSampler

SMALL = DriftSpec(reference_items=400, window_items=400, min_count=100, max_items_per_s=None)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make_items(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[list, list]:
    inputs = [
        {
            "age": float(rng.normal(40 + 10 * shift, 10)),
            "country": str(rng.choice(["fr", "de", "us"])),
            "text": "word " * int(rng.integers(3, 20)),
        }
        for _ in range(n)
    ]
    outputs = [
        {"score": float(rng.random()), "embedding": rng.normal(size=8).tolist()} for _ in range(n)
    ]
    return inputs, outputs


def monitor(spec: DriftSpec = SMALL, clock: Clock | None = None) -> DriftMonitor:
    return DriftMonitor("model", "v1", spec, clock=clock or Clock())


def test_fields_are_inferred_by_kind() -> None:
    extractor = FeatureExtractor(DriftSpec())
    item = {
        "age": 31,
        "ok": True,
        "country": "fr",
        "prompt": "a sentence with several words in it",
        "embedding": [0.1, 0.2, 0.3],
        "messages": [{"role": "user", "content": "hi there you"}] * 10,
    }
    for _ in range(16):  # a string field's kind is decided on its first 16 values
        batch = extractor.extract([item], [0.5], 1)
    assert extractor.kinds == {
        "input.age": FieldKind.NUMERIC,
        "input.ok": FieldKind.LABEL,
        "input.country": FieldKind.LABEL,
        "input.prompt": FieldKind.TEXT,
        "input.embedding": FieldKind.VECTOR,
        "input.messages[].role": FieldKind.LABEL,
        "input.messages[].content": FieldKind.TEXT,
        "output": FieldKind.NUMERIC,
    }
    # the 16 values held while deciding arrive together; a list gives its first 4 elements
    assert len(batch.numbers["input.prompt.length"]) == 16
    assert len(batch.labels["input.messages[].role"]) == 4
    assert batch.vectors["input.embedding"].shape == (1, 3)


def test_a_string_field_is_text_if_any_early_value_is() -> None:
    extractor = FeatureExtractor(DriftSpec())
    for text in ["hello"] * 10 + ["hello there, how are you"] + ["hi"] * 5:
        extractor.extract([{"prompt": text}], [], 1)
    assert extractor.kinds["input.prompt"] is FieldKind.TEXT


def test_declared_kinds_override_inference_and_can_ignore_fields() -> None:
    spec = DriftSpec(
        fields={"input.code": FieldKind.LABEL, "input.secret": FieldKind.IGNORE},
        only_declared=False,
    )
    extractor = FeatureExtractor(spec)
    batch = extractor.extract([{"code": 404, "secret": {"a": 1}, "n": 1.5}], [], 1)
    assert batch.labels == {"input.code": ["404"]}
    assert batch.numbers == {"input.n": [1.5]}
    only = FeatureExtractor(DriftSpec(fields={"input.n": FieldKind.NUMERIC}, only_declared=True))
    batch = only.extract([{"code": 404, "n": 2}], [{"x": 1}], 1)
    assert batch.numbers == {"input.n": [2.0]} and not batch.labels


def test_a_wild_payload_keeps_at_most_max_fields() -> None:
    drift = monitor(DriftSpec(max_fields=64, max_items_per_s=None))
    wild = {f"key{i}": i for i in range(60)} | {"nested": {f"k{i}": {"x": i} for i in range(60)}}
    drift.observe([wild] * 3, [{f"out{i}": "x" for i in range(200)}] * 3)
    drift.check()  # summarises the items held
    assert len(drift._extractor.kinds) + len(drift._extractor._pending) == 64
    assert drift.skipped["too_many_fields"] > 0
    assert drift.skipped["too_many_keys"] == 3 * (200 - 64)


BAD_VALUES = [
    math.nan,
    math.inf,
    -math.inf,
    None,
    10**400,
    "x" * 5_000_000,
    " ".join(["w"] * 100_000),
    b"bytes",
    {1, 2},
    object(),
    [],
    {},
    [1.0, "a", None],
    [1.0, math.nan],
    [10**400, 1.0],
    [[1, 2], [3]],
    [True, False],
    {"deep": [[[[[[[[[[[[1]]]]]]]]]]]]},
    {str(i): i for i in range(1000)},
]


def test_bad_values_never_raise_and_are_counted() -> None:
    drift = monitor()
    rng = np.random.default_rng(0)
    good_in, good_out = make_items(rng, 800)
    drift.observe(good_in, good_out)
    for bad in BAD_VALUES:
        # each bad value in every position an item's field can take
        drift.observe([{"age": bad, "country": bad, "text": bad}], [{"embedding": bad}])
        drift.observe([bad], [bad])
    drift.observe(None, "not a list")  # type: ignore[arg-type]
    drift.observe([{"age": 1.0}] * 3, [])  # outputs missing
    drift.check()
    skipped = dict(drift.skipped)
    assert skipped["non_finite"] >= 4 and skipped["null"] >= 2
    assert skipped["type_mismatch"] > 0 and skipped["too_deep"] > 0
    assert "error" not in skipped
    assert {s.feature for s in drift.scores()} >= {"input.age", "output.embedding.norm"}


def test_memory_stays_bounded_after_200_000_items() -> None:
    drift = monitor(DriftSpec(max_items_per_s=None))
    rng = np.random.default_rng(1)
    inputs, outputs = make_items(rng, 2_000)
    outputs = [{"score": float(x), "embedding": rng.normal(size=384).tolist()} for x in range(2000)]
    sizes = []
    for _ in range(100):
        drift.observe(inputs, outputs)
        recent = drift.recent_summary()
        sizes.append(0 if recent is None else len(recent.to_bytes()))
    assert drift.observed_items == 200_000
    reference = drift.reference_bytes()
    # 6 numeric features (~5 KiB each, whatever they saw), 1 label, a 384-float mean and anchor
    print(f"summary bytes after 200,000 items: reference {len(reference)}, recent {sizes[-1]}")
    assert len(reference) < 48 * 1024
    assert max(sizes) < 48 * 1024


def test_a_reference_round_trips_through_bytes_and_set_reference() -> None:
    rng = np.random.default_rng(2)
    first = monitor()
    first.observe(*make_items(rng, 400))
    reference = first.reference_bytes()
    assert reference is not None
    assert WindowSummary.from_bytes(reference).to_bytes() == reference

    second = monitor()  # another gateway, given the stored reference through the admin API
    second.set_reference(reference)
    assert second.has_reference and not second.capturing
    assert second.reference_bytes() == reference
    second.observe(*make_items(rng, 400, shift=2.0))
    alerts = second.check()
    assert ("input.age", Statistic.KS) in {(a.feature, a.statistic) for a in alerts}
    assert {s.feature for s in second.scores()} >= {
        "input.age",
        "input.country",
        "input.text.length",
        "output.embedding",
        "output.embedding.centroid_distance",
    }


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": "other"}',
        b'{"format": "scaleserve.drift.summary/1", "items": -1, "features": [], "vectors": []}',
        b'{"format": "scaleserve.drift.summary/1", "items": 1, "features": [{"name": "a", '
        b'"kind": "numeric", "sketch": "AAAA"}], "vectors": []}',
        b'{"format": "scaleserve.drift.summary/1", "items": 1, "features": [{"name": "a", '
        b'"kind": "wrong", "sketch": ""}], "vectors": []}',
        b'{"format": "scaleserve.drift.summary/1", "items": 1, "features": [], "vectors": '
        b'[{"path": "v", "count": 1, "mean": "AAAAAAAA+H8=", "square_norm": 1, "anchor": null}]}',
    ],
)
def test_set_reference_refuses_what_is_not_a_summary(data: bytes) -> None:
    drift = monitor()
    with pytest.raises(InvalidSummary) as refused:
        drift.set_reference(data)
    assert isinstance(refused.value, RequestError)  # the admin API answers 400
    assert not drift.has_reference and drift.capturing


def test_capture_reference_accepts_the_new_normal() -> None:
    rng = np.random.default_rng(3)
    drift = monitor()
    drift.observe(*make_items(rng, 400))
    drift.observe(*make_items(rng, 400, shift=2.0))
    assert drift.check() and drift.firing
    drift.capture_reference()
    drift.observe(*make_items(rng, 400, shift=2.0))  # still scored against the old reference
    assert drift.has_reference and not drift.capturing and not drift.firing
    drift.observe(*make_items(rng, 400, shift=2.0))
    assert drift.check() == [] and drift.last_scores


def test_recent_window_rolls_in_halves() -> None:
    drift = monitor()
    rng = np.random.default_rng(4)
    drift.observe(*make_items(rng, 400))
    assert drift.recent_summary().items == 0
    drift.observe(*make_items(rng, 350))
    assert drift.recent_summary().items == 350
    drift.observe(*make_items(rng, 100))
    assert drift.recent_summary().items == 250  # the last half (200) and 50 more


def score(value: float, threshold: float = 0.1) -> DriftScore:
    kind, ks = FieldKind.NUMERIC, Statistic.KS
    return DriftScore("input.age", kind, ks, value, threshold, value > threshold, 500, 500)


def test_alerts_are_sent_once_per_crossing_with_hysteresis() -> None:
    alarms = Alarms("model", "v1", rearm_ratio=0.8)
    sent = [len(alarms.update([score(value)], at=0.0)) for value in (0.05, 0.2, 0.3, 0.09, 0.15)]
    assert sent == [0, 1, 0, 0, 0]  # 0.09 is not below 0.08: still firing
    sent = [len(alarms.update([score(value)], at=0.0)) for value in (0.07, 0.11)]
    assert sent == [0, 1]


def test_alerts_reach_every_listener_even_if_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    drift = monitor(clock=clock)
    received: list[DriftAlert] = []

    def broken(alert: DriftAlert) -> None:
        raise RuntimeError("pager down")

    drift.add_listener(broken)
    drift.add_listener(received.append)
    rng = np.random.default_rng(5)
    drift.observe(*make_items(rng, 400))
    drift.observe(*make_items(rng, 400, shift=3.0))
    clock.now = 2_000.0
    alerts = drift.check()
    assert alerts and received == alerts
    first = received[0]
    assert (first.model, first.version, first.at) == ("model", "v1", 2_000.0)
    assert first.value > first.threshold
    assert "pager down" in caplog.text
    assert drift.check() == []  # still drifted: not sent again


def test_the_sampler_takes_everything_below_the_cap_and_spreads_above_it() -> None:
    clock = Clock()
    sampler = StrideSampler(1_000.0, clock)
    assert len(sampler.select(500)) == 500
    taken = 0
    for _ in range(50):  # 10,000 items a second for 5 seconds
        clock.now += 0.1
        taken += len(sampler.select(1_000))
    assert sampler.stride == 10
    assert 4_000 <= taken <= 6_500  # ~3,000 in the first second of the burst, then 1,000 a second
    spread = StrideSampler(None, clock)
    assert len(spread.select(10_000)) == 10_000


def test_metrics_expose_scores_alerts_and_counts() -> None:
    rng = np.random.default_rng(6)
    drift = monitor()
    drift.observe(*make_items(rng, 400))
    drift.observe(*make_items(rng, 400, shift=3.0))
    drift.observe([{"age": None}], [])
    drift.check()
    registry = CollectorRegistry()
    registry.register(DriftCollector(lambda: [drift]))
    text = generate_latest(registry).decode()
    assert 'scaleserve_drift_score{feature="input.age",model="model",statistic="ks",' in text
    assert 'scaleserve_drift_firing{feature="input.age",model="model",statistic="ks"' in text
    assert 'scaleserve_drift_alerts_total{feature="input.age"' in text
    assert 'scaleserve_drift_items_total{model="model",stage="observed",version="v1"} 801.0' in text
    assert 'scaleserve_drift_skipped_values_total{model="model",reason="null",version="v1"}' in text


@pytest.mark.parametrize(
    "settings",
    [
        {"reference_items": 1},
        {"min_count": 5_000},
        {"min_count": 0},
        {"max_items_per_s": 0},
        {"max_fields": 0},
        {"rearm_ratio": 1.5},
        {"thresholds": {Statistic.KS: 0.1}},
        {"feature_thresholds": {"input.age": {Statistic.KS: -1.0}}},
    ],
)
def test_a_wrong_spec_is_a_config_error(settings: dict) -> None:
    with pytest.raises(ConfigError):
        DriftSpec(**settings)


def test_feature_thresholds_override_the_default() -> None:
    spec = DriftSpec(feature_thresholds={"input.age": {Statistic.KS: 0.3}})
    assert spec.threshold("input.age", Statistic.KS) == 0.3
    assert spec.threshold("input.age", Statistic.PSI) == 0.2
    assert spec.threshold("input.other", Statistic.KS) == 0.1
