"""What the dashboard shows, computed from two consecutive scrapes: rates from counter
increases, latency quantiles from histogram bucket increases (interpolated within the
bucket, as Prometheus' ``histogram_quantile`` does), gauges as read.

Pure functions over ``Scrape``s: no I/O, no clock. A metric or label that is missing shows
as nothing: a series without ``version`` counts as version ``""`` (and is folded into the
model's only version when it has exactly one), one without ``tenant`` belongs to no tenant.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scaleserve.observe.dashboard.scrape import Labels, Samples, Scrape, Series, label

REQUESTS = "scaleserve_requests_total"
LATENCY_BUCKETS = "scaleserve_request_duration_seconds_bucket"
ITEMS = "scaleserve_items_total"
TOKENS = "scaleserve_tokens_total"
BATCH_SUM = "scaleserve_batch_size_sum"
BATCH_COUNT = "scaleserve_batch_size_count"
CACHE_LOOKUPS = "scaleserve_cache_lookups_total"
DRIFT_SCORE = "scaleserve_drift_score"
DRIFT_THRESHOLD = "scaleserve_drift_threshold"
DRIFT_FIRING = "scaleserve_drift_firing"
COUNTS = {ITEMS: "items", TOKENS: "tokens", BATCH_COUNT: "batches", BATCH_SUM: "batch_items"}
GAUGES = {
    "scaleserve_queue_depth": "backlog",
    "scaleserve_queue_queued": "queued",
    "scaleserve_workers_ready": "ready",
    "scaleserve_workers_desired": "desired",
    "scaleserve_workers_current": "current",
    "scaleserve_in_flight_requests": "in_flight",
}
SAMPLES = frozenset(
    [REQUESTS, LATENCY_BUCKETS, CACHE_LOOKUPS, DRIFT_SCORE, DRIFT_THRESHOLD, DRIFT_FIRING,
     *COUNTS, *GAUGES]
)  # fmt: skip
"""Every sample the dashboard reads."""
QUANTILES = {"p50_s": 0.5, "p95_s": 0.95, "p99_s": 0.99}
K = TypeVar("K")

ModelKey = tuple[str, str]
"""``(model, version)``; the version is ``""`` where the metrics do not tell it."""


@dataclass
class Totals:
    """What one model version added up to over an interval. Every field adds, so the
    totals of series without a version fold into the model's one version."""

    codes: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Requests answered, by status code."""
    latency: defaultdict[float, float] = field(default_factory=lambda: defaultdict(float))
    """Cumulative latency buckets (upper bound: requests) of requests not refused (no 4xx)."""
    cache: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    """Cache lookups by ``(tier, result)``."""
    counts: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """``items``, ``tokens``, ``batches`` and ``batch_items`` counted."""
    gauges: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """The live gauges read (only those present)."""

    def add(self, other: Totals) -> None:
        _merge(self.codes, other.codes)
        _merge(self.latency, other.latency)
        _merge(self.cache, other.cache)
        _merge(self.counts, other.counts)
        _merge(self.gauges, other.gauges)


def summarize(previous: Scrape | None, current: Scrape) -> dict[str, Any]:
    """``models``, ``tenants`` and ``drift`` between ``previous`` and ``current``; rates are
    ``None`` without a previous scrape."""
    elapsed_s = current.at_s - previous.at_s if previous is not None else None
    if elapsed_s is not None and elapsed_s <= 0:
        elapsed_s = None
    before = previous.samples if previous is not None and elapsed_s else current.samples
    totals = fold_unversioned(model_totals(before, current.samples))
    return {
        "models": [model_row(key, totals[key], elapsed_s) for key in sorted(totals)],
        "tenants": tenant_rows(before, current.samples, elapsed_s),
        "drift": drift_rows(current.samples),
    }


def increases(previous: Series, current: Series) -> dict[Labels, float]:
    """How much each counter series grew. A series lower than before was restarted (its
    process was) and counts from zero; one absent before is new and counts from zero."""
    grown = {}
    for labels, value in current.items():
        before = previous.get(labels, 0.0)
        grown[labels] = value - before if value >= before else value
    return grown


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q``-quantile (0 < q ≤ 1) of the observations in cumulative ``buckets``
    (upper bound: count, ``+Inf`` included), interpolated linearly within its bucket as
    Prometheus' ``histogram_quantile`` does; ``None`` without observations."""
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return None
    counts, highest = [], 0.0
    for bound in bounds:  # sums of increases may dip where a series restarted
        highest = max(highest, buckets[bound])
        counts.append(highest)
    rank = q * counts[-1]
    if rank <= 0:
        return None
    at = next(i for i, count in enumerate(counts) if count >= rank)
    if at == len(bounds) - 1:  # in the +Inf bucket: the highest finite bound is all we know
        return bounds[-2]
    upper = bounds[at]
    if at == 0 and upper <= 0:
        return upper
    lower, below = (0.0, 0.0) if at == 0 else (bounds[at - 1], counts[at - 1])
    return lower + (upper - lower) * (rank - below) / (counts[at] - below)


def model_totals(previous: Samples, current: Samples) -> dict[ModelKey, Totals]:
    """Every model version that any metric names, with its totals since ``previous``."""
    totals: defaultdict[ModelKey, Totals] = defaultdict(Totals)
    _count(totals, previous, current)
    for name, gauge in GAUGES.items():
        for labels, value in current.get(name, {}).items():
            if label(labels, "model"):
                totals[_key(labels)].gauges[gauge] += value
    return dict(totals)


def _count(totals: defaultdict[ModelKey, Totals], previous: Samples, current: Samples) -> None:
    """Add the counters' (and histograms') increases since ``previous`` to ``totals``."""

    def grown(name: str) -> Iterable[tuple[Labels, Totals, float]]:
        for labels, value in increases(previous.get(name, {}), current.get(name, {})).items():
            if label(labels, "model"):
                yield labels, totals[_key(labels)], value

    for labels, total, value in grown(REQUESTS):
        total.codes[label(labels, "code")] += value
    for labels, total, value in grown(LATENCY_BUCKETS):
        if not label(labels, "code").startswith("4"):  # refusals and bad input: no latency
            total.latency[float(label(labels, "le") or "inf")] += value
    for labels, total, value in grown(CACHE_LOOKUPS):
        total.cache[label(labels, "tier"), label(labels, "result")] += value
    for name, count in COUNTS.items():
        for _, total, value in grown(name):
            total.counts[count] += value


def fold_unversioned(totals: dict[ModelKey, Totals]) -> dict[ModelKey, Totals]:
    """Fold a model's version-less totals into its version when it has exactly one; with
    several, they stay a row of their own (the model as a whole)."""
    versions: defaultdict[str, list[str]] = defaultdict(list)
    for model, version in totals:
        versions[model].append(version)
    folded = dict(totals)
    for model, named in versions.items():
        known = [v for v in named if v]
        if "" in named and len(known) == 1:
            folded[model, known[0]].add(folded.pop((model, "")))
    return folded


def model_row(key: ModelKey, totals: Totals, elapsed_s: float | None) -> dict[str, Any]:
    """The dashboard's numbers for one model version."""
    codes, counts, gauges = totals.codes, totals.counts, totals.gauges

    def per_s(amount: float) -> float | None:
        return None if elapsed_s is None else round(amount / elapsed_s, 4)

    return {
        "model": key[0],
        "version": key[1],
        "requests_per_s": per_s(sum(codes.values())),
        "errors_per_s": per_s(sum(n for code, n in codes.items() if code.startswith("5"))),
        "rejected_per_s": per_s(codes.get("429", 0.0)),
        "items_per_s": per_s(counts.get("items", 0.0)),
        "tokens_per_s": per_s(counts.get("tokens", 0.0)),
        **{name: _seconds(quantile(q, totals.latency)) for name, q in QUANTILES.items()},
        "backlog": gauges.get("backlog"),
        "queued": gauges.get("queued"),
        "in_flight": gauges.get("in_flight"),
        "workers": {name: gauges.get(name) for name in ("ready", "desired", "current")},
        "batch_size_avg": _ratio(counts.get("batch_items", 0.0), counts.get("batches", 0.0)),
        "cache_hit_rate": hit_rate(totals.cache),
    }


def hit_rate(lookups: Mapping[tuple[str, str], float]) -> float | None:
    """Items answered by any cache tier over items looked up. Each tier sees only what the
    tiers before it missed, so the busiest tier's lookups are the items looked up."""
    per_tier: defaultdict[str, float] = defaultdict(float)
    hits = 0.0
    for (tier, result), count in lookups.items():
        per_tier[tier] += count
        hits += count if result == "hit" else 0.0
    return _ratio(hits, max(per_tier.values(), default=0.0))


def tenant_rows(
    previous: Samples, current: Samples, elapsed_s: float | None
) -> list[dict[str, Any]]:
    """Requests, refusals (429) and errors (5xx) per second of each tenant the metrics name."""
    codes: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in increases(previous.get(REQUESTS, {}), current.get(REQUESTS, {})).items():
        if tenant := label(labels, "tenant"):
            codes[tenant][label(labels, "code")] += value

    def per_s(amount: float) -> float | None:
        return None if elapsed_s is None else round(amount / elapsed_s, 4)

    return [
        {
            "tenant": tenant,
            "requests_per_s": per_s(sum(counted.values())),
            "rejected_per_s": per_s(counted.get("429", 0.0)),
            "errors_per_s": per_s(sum(n for c, n in counted.items() if c.startswith("5"))),
        }
        for tenant, counted in sorted(codes.items())
    ]


def drift_rows(samples: Samples) -> list[dict[str, Any]]:
    """Each drift score with its threshold; drifted (its alert firing, or without that
    metric, over its threshold) first."""
    thresholds = samples.get(DRIFT_THRESHOLD, {})
    firing = samples.get(DRIFT_FIRING, {})
    rows = []
    for labels, value in samples.get(DRIFT_SCORE, {}).items():
        threshold = _threshold_of(labels, thresholds)
        over = threshold is not None and value > threshold
        rows.append(
            {
                **{name: label(labels, name) for name in ("model", "version", "feature")},
                "statistic": label(labels, "statistic"),
                "value": _finite(value),
                "threshold": None if threshold is None else _finite(threshold),
                "drifted": bool(firing[labels]) if labels in firing else over,
            }
        )
    rows.sort(key=lambda r: (not r["drifted"], r["model"], r["version"], r["feature"]))
    return rows


def _threshold_of(labels: Labels, thresholds: Series) -> float | None:
    """The threshold of the same series, or of one whose labels are a subset of its own."""
    if labels in thresholds:
        return thresholds[labels]
    mine = set(labels)
    return next((v for theirs, v in thresholds.items() if set(theirs) <= mine), None)


def _merge(into: defaultdict[K, float], other: Mapping[K, float]) -> None:
    for key, value in other.items():
        into[key] += value


def _key(labels: Labels) -> ModelKey:
    return label(labels, "model"), label(labels, "version")


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
