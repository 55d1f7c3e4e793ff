"""The audit sink's counts on ``/metrics``, read at each scrape."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from scaleserve.audit.sink import AuditSink


class AuditCollector(Collector):
    def __init__(self, sink: AuditSink) -> None:
        self._sink = sink

    def collect(self) -> Iterable[Metric]:
        records = CounterMetricFamily(
            "scaleserve_audit_records",
            "Audit records written, and dropped (the buffer was full or the store failed).",
            labels=["outcome"],
        )
        records.add_metric(["written"], self._sink.written)
        records.add_metric(["dropped"], self._sink.dropped)
        yield records
