"""Drift scores as Prometheus metrics, read at scrape time from the monitors' last check.

Register one ``DriftCollector`` (or pass it as ``observe.metrics.render(extra=...)``); a
scrape reads what the latest ``check()`` of each monitor found and computes nothing. Series
are bounded: ``spec.max_fields`` fields a monitor, two features a field, two statistics a
feature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scaleserve.observe.drift.monitor import DriftMonitor

_SCORE_LABELS = ["model", "version", "feature", "statistic"]


class DriftCollector(Collector):
    """Metrics of the monitors ``monitors()`` returns at each scrape."""

    def __init__(self, monitors: Callable[[], Iterable[DriftMonitor]]) -> None:
        self._monitors = monitors

    def collect(self) -> Iterable[Metric]:
        score = GaugeMetricFamily(
            "scaleserve_drift_score",
            "Distance of a feature's recent window from its reference, by statistic "
            "(ks, psi, js), at the monitor's latest check.",
            labels=_SCORE_LABELS,
        )
        threshold = GaugeMetricFamily(
            "scaleserve_drift_threshold",
            "The score past which a feature counts as drifted.",
            labels=_SCORE_LABELS,
        )
        firing = GaugeMetricFamily(
            "scaleserve_drift_firing",
            "1 while a feature's drift alert is active (until its score falls back).",
            labels=_SCORE_LABELS,
        )
        alerts = CounterMetricFamily(
            "scaleserve_drift_alerts",
            "Drift alerts sent, by feature and statistic.",
            labels=_SCORE_LABELS,
        )
        items = CounterMetricFamily(
            "scaleserve_drift_items",
            "Items offered to drift monitoring (seen) and summarised after sampling (observed).",
            labels=["model", "version", "stage"],
        )
        skipped = CounterMetricFamily(
            "scaleserve_drift_skipped_values",
            "Values drift monitoring passed over, by reason (null, non_finite, type_mismatch…).",
            labels=["model", "version", "reason"],
        )
        for monitor in self._monitors():
            model, version = monitor.model, monitor.version
            active = monitor.firing
            for drift in monitor.last_scores:
                labels = [model, version, drift.feature, drift.statistic.value]
                score.add_metric(labels, drift.value)
                threshold.add_metric(labels, drift.threshold)
                firing.add_metric(labels, float((drift.feature, drift.statistic) in active))
            for (feature, statistic), count in monitor.alerts_sent.items():
                alerts.add_metric([model, version, feature, statistic.value], count)
            items.add_metric([model, version, "seen"], monitor.seen_items)
            items.add_metric([model, version, "observed"], monitor.observed_items)
            for reason, count in monitor.skipped.items():
                skipped.add_metric([model, version, reason], count)
        yield from (score, threshold, firing, alerts, items, skipped)
