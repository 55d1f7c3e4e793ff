"""Monitoring that ships with scaleserve: Prometheus rules and a Grafana dashboard.

- ``rules.yml``: recording rules (SLO error ratios and burn rates, p95 latency) and the alerts,
  for Prometheus' ``rule_files`` or the ``groups`` of a Prometheus Operator ``PrometheusRule``;
- ``rules_test.yml``: their unit tests, run with ``promtool test rules``;
- ``dashboard.json``: a Grafana dashboard over the metrics and the recording rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["MonitoringFiles", "monitoring_files"]


@dataclass(frozen=True, slots=True)
class MonitoringFiles:
    """The shipped files; ``read_text()`` on each gives its content."""

    rules: Traversable
    rules_test: Traversable
    dashboard: Traversable


def monitoring_files() -> MonitoringFiles:
    """The monitoring files inside the installed package."""
    here = files(__name__)
    return MonitoringFiles(
        rules=here / "rules.yml",
        rules_test=here / "rules_test.yml",
        dashboard=here / "dashboard.json",
    )
