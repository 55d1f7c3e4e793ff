"""Distances between a reference window and a recent window, feature by feature.

Numbers get the Kolmogorov-Smirnov statistic (the largest gap between the two sketches'
CDFs, read at both sketches' percentiles) and the population stability index over the
reference's deciles; labels get the Jensen-Shannon distance over the labels either sketch
tracks plus an "other" bucket (scipy's); vector fields also get their mean shift (how far the
mean vector moved, over the reference's spread), which catches a rotated or offset cloud that
the per-item norms and centroid distances barely see.

A score counts as drift past the larger of its configured threshold and its *noise floor*:
what sampling noise alone reaches, once in about 100,000 checks, with windows of these
sizes (and, for KS, the sketches' rank error). With the default windows the floors stay under
the default thresholds, except JS for labels of many categories, whose noise grows with
their number: 30 categories in 2,000 items already give JS distances near 0.1 by chance.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from scaleserve.observe.drift.sketches import LabelSketch, NumericSketch
from scaleserve.observe.drift.spec import DriftSpec
from scaleserve.observe.drift.summary import WindowSummary
from scaleserve.observe.drift.types import DriftScore, FieldKind, Statistic
from scaleserve.observe.drift.vectors import RunningMean, mean_shift

KS_POINTS = 101  # percentiles of each sketch at which the CDFs are compared
PSI_BINS = 10
PSI_EPSILON = 1e-4  # the mass given to an empty bin, so a bin seen on one side only is finite
KS_CRITICAL = 2.45  # c(alpha) of the two-sample KS test at alpha = 1e-5
CHI2_SDS = 6.0  # a chi-square-like statistic's floor: its mean plus this many deviations


def ks_statistic(reference: NumericSketch, recent: NumericSketch) -> float:
    """sup |F_reference - F_recent|, in [0, 1]."""
    ranks = np.linspace(0.0, 1.0, KS_POINTS).tolist()
    points = np.unique([*reference.quantiles(ranks), *recent.quantiles(ranks)]).tolist()
    gaps = np.subtract(reference.cdf(points), recent.cdf(points))
    return float(np.max(np.abs(gaps)))


def psi(reference: NumericSketch, recent: NumericSketch) -> float:
    """Population stability index over the reference's deciles (ties merge bins)."""
    return _psi(reference, recent, _decile_edges(reference))


def _decile_edges(reference: NumericSketch) -> list[float]:
    ranks = np.linspace(0.0, 1.0, PSI_BINS + 1)[1:-1].tolist()
    edges: list[float] = np.unique(reference.quantiles(ranks)).tolist()
    return edges


def _psi(reference: NumericSketch, recent: NumericSketch, edges: list[float]) -> float:
    expected = _smoothed(reference.pmf(edges))
    actual = _smoothed(recent.pmf(edges))
    # PSI = sum (a - e) ln(a / e) = KL(a || e) + KL(e || a)
    return float(np.sum(rel_entr(actual, expected) + rel_entr(expected, actual)))


def js_distance(reference: LabelSketch, recent: LabelSketch) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of the two label frequencies."""
    before, after = _label_counts(reference, recent)
    return float(jensenshannon(before, after, 2))


def _label_counts(
    reference: LabelSketch, recent: LabelSketch
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    labels = sorted({*reference.labels(), *recent.labels()})
    return _frequencies(reference, labels), _frequencies(recent, labels)


def _frequencies(sketch: LabelSketch, labels: list[str]) -> npt.NDArray[np.float64]:
    counts = [sketch.estimate(label) for label in labels]
    other = max(sketch.count - sum(counts), 0)
    return np.asarray([*counts, other], dtype=np.float64)


def _smoothed(masses: list[float]) -> npt.NDArray[np.float64]:
    clipped = np.clip(np.asarray(masses, dtype=np.float64), PSI_EPSILON, None)
    normalised: npt.NDArray[np.float64] = clipped / clipped.sum()
    return normalised


def ks_floor(reference: NumericSketch, recent: NumericSketch) -> float:
    """The KS statistic that noise reaches: the test's critical value plus both rank errors."""
    spread = math.sqrt(1 / reference.count + 1 / recent.count)
    return KS_CRITICAL * spread + reference.rank_error + recent.rank_error


def _chi2_floor(degrees: int, reference_count: int, recent_count: int) -> float:
    """Noise floor of n-scaled divergences: under no drift, ``sum (p - q)^2 / p`` is about
    chi-square with ``degrees`` degrees of freedom times ``1/n + 1/m``."""
    spread = 1 / reference_count + 1 / recent_count
    return (degrees + CHI2_SDS * math.sqrt(2 * degrees)) * spread


def psi_floor(reference: NumericSketch, recent: NumericSketch, bins: int) -> float:
    return _chi2_floor(max(bins - 1, 1), reference.count, recent.count)


def js_floor(reference: LabelSketch, recent: LabelSketch, categories: int) -> float:
    """JS divergence is about an eighth of the chi-square sum (in nats); the distance its root."""
    divergence = _chi2_floor(max(categories - 1, 1), reference.count, recent.count)
    return math.sqrt(divergence / (8 * math.log(2)))


def mean_shift_floor(reference: RunningMean, recent: RunningMean) -> float:
    """Under no drift the squared shift is about ``spread^2 (1/n + 1/m) chi2_d / d`` for some
    effective number of dimensions d; d = 1 is the widest case."""
    return math.sqrt(_chi2_floor(1, reference.count, recent.count))


@dataclass(frozen=True, slots=True)
class _Measure:
    feature: str
    kind: FieldKind
    statistic: Statistic
    value: float
    floor: float
    counts: tuple[int, int]


def compare(reference: WindowSummary, recent: WindowSummary, spec: DriftSpec) -> list[DriftScore]:
    """The scores of every feature both windows hold at least ``spec.min_count`` values of."""
    scores: list[DriftScore] = []
    for measure in [*_features(reference, recent, spec), *_vectors(reference, recent, spec)]:
        threshold = max(spec.threshold(measure.feature, measure.statistic), measure.floor)
        drifted = measure.value > threshold
        scores.append(
            DriftScore(
                measure.feature,
                measure.kind,
                measure.statistic,
                measure.value,
                threshold,
                drifted,
                *measure.counts,
            )
        )
    return scores


def _features(
    reference: WindowSummary, recent: WindowSummary, spec: DriftSpec
) -> Iterator[_Measure]:
    for feature, kind in sorted(reference.kinds.items()):
        counts = reference.count(feature), recent.count(feature)
        if recent.kinds.get(feature) is not kind or min(counts) < spec.min_count:
            continue
        if kind is FieldKind.LABEL:
            before, after = reference.labels[feature], recent.labels[feature]
            frequencies = _label_counts(before, after)
            categories = int(np.count_nonzero(frequencies[0] + frequencies[1]))
            value = float(jensenshannon(*frequencies, 2))
            floor = js_floor(before, after, categories)
            yield _Measure(feature, kind, Statistic.JS, value, floor, counts)
        else:
            numbers, latest = reference.numbers[feature], recent.numbers[feature]
            value, floor = ks_statistic(numbers, latest), ks_floor(numbers, latest)
            yield _Measure(feature, kind, Statistic.KS, value, floor, counts)
            edges = _decile_edges(numbers)
            value, floor = _psi(numbers, latest, edges), psi_floor(numbers, latest, len(edges) + 1)
            yield _Measure(feature, kind, Statistic.PSI, value, floor, counts)


def _vectors(
    reference: WindowSummary, recent: WindowSummary, spec: DriftSpec
) -> Iterator[_Measure]:
    for path, before in sorted(reference.means.items()):
        after = recent.means.get(path)
        if after is None or after.dim != before.dim:
            continue
        if min(before.count, after.count) >= spec.min_count:
            value, floor = mean_shift(before, after), mean_shift_floor(before, after)
            counts = before.count, after.count
            yield _Measure(path, FieldKind.VECTOR, Statistic.MEAN_SHIFT, value, floor, counts)
