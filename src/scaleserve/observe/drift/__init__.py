"""Drift monitoring: how far a model version's recent inputs and outputs moved from a reference.

One ``DriftMonitor`` per model version summarises items in bounded memory (``summary``),
scores a recent window against a reference (``compare``: KS and PSI for numbers, Jensen-Shannon
for labels), and sends ``DriftAlert`` records to listeners; ``DriftCollector`` exports the
scores as Prometheus metrics.
"""

from scaleserve.observe.drift.metrics import DriftCollector
from scaleserve.observe.drift.monitor import DriftMonitor, Listener
from scaleserve.observe.drift.spec import DEFAULT_THRESHOLDS, DriftSpec
from scaleserve.observe.drift.summary import InvalidSummary, WindowSummary
from scaleserve.observe.drift.types import DriftAlert, DriftScore, FieldKind, Statistic

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DriftAlert",
    "DriftCollector",
    "DriftMonitor",
    "DriftScore",
    "DriftSpec",
    "FieldKind",
    "InvalidSummary",
    "Listener",
    "Statistic",
    "WindowSummary",
]
