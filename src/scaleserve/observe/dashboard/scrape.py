"""One reading of the Prometheus text exposition, as the dashboard's computations take it.

A ``Samples`` maps each sample name (``scaleserve_requests_total``,
``scaleserve_request_duration_seconds_bucket``) to its series, each keyed by its labels.
Only scaleserve's own metrics are kept; text that does not parse gives no samples (and a
log line), never an error: the dashboard shows nothing rather than failing.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

PREFIX = "scaleserve_"

Labels = tuple[tuple[str, str], ...]
"""A series' labels, sorted by name: hashable, and equal for the same series."""
Series = Mapping[Labels, float]
Samples = Mapping[str, Series]


@dataclass(frozen=True)
class Scrape:
    """The samples read at ``at_s`` (seconds on a monotonic clock)."""

    at_s: float
    samples: Samples


def parse(text: str, names: Collection[str] | None = None) -> dict[str, dict[Labels, float]]:
    """The scaleserve samples of a text exposition (only those named ``names``, if given);
    none if it does not parse."""
    if names is not None:
        text = _only(text, names)
    samples: dict[str, dict[Labels, float]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith(PREFIX):
                    series = samples.setdefault(sample.name, {})
                    series[tuple(sorted(sample.labels.items()))] = float(sample.value)
    except ValueError:
        log.warning("dashboard: the metrics text did not parse; showing nothing this time")
        return {}
    return samples


def _only(text: str, names: Collection[str]) -> str:
    """The sample lines of ``names``, without comments: parsing is most of a scrape's cost
    and the dashboard reads a third of the lines (untyped, each sample keeps its name)."""
    kept = []
    for line in text.splitlines():
        end = line.find("{")
        name = line[:end] if end >= 0 else line.partition(" ")[0]
        if name in names:
            kept.append(line)
    return "\n".join(kept) + "\n"


def label(labels: Labels, name: str) -> str:
    """The value of label ``name``; ``""`` when the series has no such label."""
    for key, value in labels:
        if key == name:
            return value
    return ""
