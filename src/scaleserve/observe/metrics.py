"""Prometheus metrics of every scaleserve process.

Under ``scaleserve serve`` all processes share ``PROMETHEUS_MULTIPROC_DIR`` (set before this
module is imported), so the gateway's ``/metrics`` adds up the workers' counters with its own.
Values only the gateway knows at the moment of a scrape (queue depth, ready workers) come
from a collector it registers for the scrape, not from gauges updated per request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import ClassVar

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scaleserve.scale.runtime_dir import MULTIPROC_ENV

LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

FILL_RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

# Per request, in the gateway. ``tenant`` is one of the busiest tenants or ``other``
# (``scaleserve.observe.tenant_labels``); ``version`` the version that answered.
REQUESTS = Counter(
    "scaleserve_requests_total",
    "Predict requests answered, by model, version, tenant and HTTP status.",
    ["model", "version", "tenant", "code"],
)
REQUEST_DURATION = Histogram(
    "scaleserve_request_duration_seconds",
    "Time from request to response in the gateway.",
    ["model", "version", "tenant", "code"],
    buckets=LATENCY_BUCKETS_S,
)
REQUEST_ITEMS = Counter(
    "scaleserve_request_items_total",
    "Items in the predict requests answered, by model, version and tenant.",
    ["model", "version", "tenant"],
)
IN_FLIGHT = Gauge(
    "scaleserve_in_flight_requests",
    "Predict requests the gateway is answering now, by model.",
    ["model"],
    multiprocess_mode="livesum",
)

# Per batch and item, in the workers.
BATCH_SIZE = Histogram(
    "scaleserve_batch_size",
    "Items per predict call.",
    ["model", "version"],
    buckets=BATCH_SIZE_BUCKETS,
)
BATCH_FILL = Histogram(
    "scaleserve_batch_fill_ratio",
    "Items per predict call over the model's max_batch_size.",
    ["model", "version"],
    buckets=FILL_RATIO_BUCKETS,
)
INFERENCE_DURATION = Histogram(
    "scaleserve_inference_duration_seconds",
    "Time of one predict call in a worker.",
    ["model", "version"],
    buckets=LATENCY_BUCKETS_S,
)
QUEUE_WAIT = Histogram(
    "scaleserve_queue_wait_seconds",
    "Time an item waited between the gateway and its batch.",
    ["model", "version"],
    buckets=LATENCY_BUCKETS_S,
)
ITEMS = Counter(
    "scaleserve_items_total",
    "Items a worker finished, by outcome.",
    ["model", "version", "outcome"],
)
WORKER_RESTARTS = Counter(
    "scaleserve_worker_restarts_total",
    "Worker processes restarted after they exited.",
    ["model"],
)


class LiveGauges(Collector):
    """Gauges read at scrape time from a callback returning ``{queue: {name: value}}``; a
    queue is a model's (version ``versions[model]``) or a registry lane, ``model@version``."""

    HELP: ClassVar[dict[str, str]] = {
        "queue_depth": "Items queued or running, by model.",
        "queue_queued": "Items waiting for a worker, by model.",
        "workers_ready": "Warm workers taking work, by model.",
        "workers_desired": "Workers the autoscaler wants, by model (autoscaled models).",
        "workers_current": "Worker processes running, by model (autoscaled models).",
    }

    def __init__(
        self,
        read: Callable[[], dict[str, dict[str, float]]],
        versions: dict[str, str] | None = None,
    ) -> None:
        self._read = read
        self._versions = versions or {}

    def collect(self) -> Iterable[Metric]:
        values = self._read()
        laned = {queue.partition("@")[0] for queue in values if "@" in queue}
        # A registry model's own queue sums its lanes: its lanes alone are exported, so a
        # series is never counted twice (nor exported twice with the same labels).
        values = {queue: v for queue, v in values.items() if queue not in laned}
        labels = {queue: self._labels(queue) for queue in values}
        for name, help_text in self.HELP.items():
            family = GaugeMetricFamily(f"scaleserve_{name}", help_text, labels=["model", "version"])
            for queue, gauges in values.items():
                family.add_metric(labels[queue], gauges.get(name, 0.0))
            yield family

    def _labels(self, queue: str) -> list[str]:
        model, _, version = queue.partition("@")
        return [model, version or self._versions.get(model, "")]


class SloTargets(Collector):
    """Each model's declared targets (``slo_latency_ms``, ``slo_availability``), for the
    shipped alerting rules to compare with."""

    def __init__(self, targets: dict[str, tuple[float | None, float | None]]) -> None:
        self._targets = targets

    def collect(self) -> Iterable[Metric]:
        latency = GaugeMetricFamily(
            "scaleserve_slo_latency_seconds", "The model's p95 latency target.", labels=["model"]
        )
        availability = GaugeMetricFamily(
            "scaleserve_slo_availability_ratio",
            "The share of the model's requests that should succeed.",
            labels=["model"],
        )
        for model, (latency_ms, ratio) in self._targets.items():
            if latency_ms is not None:
                latency.add_metric([model], latency_ms / 1000)
            if ratio is not None:
                availability.add_metric([model], ratio)
        yield latency
        yield availability


def render(*extra: Collector) -> bytes:
    """The text exposition of all processes' metrics plus ``extra``."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    for collector in extra:
        registry.register(collector)
    try:
        return generate_latest(registry)
    finally:
        for collector in extra:
            registry.unregister(collector)


def forget_process(pid: int) -> None:
    """Drop the live-gauge files of a process that exited (counters keep their history)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


# The result cache (scaleserve.cache), recorded by the gateway.
CACHE_LOOKUPS = Counter(
    "scaleserve_cache_lookups_total",
    "Predict items looked up in a cache tier, by model, tier (memory, redis, semantic) and "
    "result (hit, miss; semantic also rejected: similar enough but refused by the guard).",
    ["model", "tier", "result"],
)
CACHE_STALE = Counter(
    "scaleserve_cache_stale_total",
    "Items answered with an expired output because the model could not answer.",
    ["model"],
)
CACHE_ENTRIES = Gauge(
    "scaleserve_cache_entries",
    "Entries held by the gateway, by model and tier (memory, semantic).",
    ["model", "tier"],
    multiprocess_mode="livesum",
)
CACHE_BYTES = Gauge(
    "scaleserve_cache_bytes",
    "Bytes of outputs held in the gateway's memory tier, by model.",
    ["model"],
    multiprocess_mode="livesum",
)
CACHE_EVICTIONS = Counter(
    "scaleserve_cache_evictions_total",
    "Entries dropped to keep a tier within its bounds, by model and tier.",
    ["model", "tier"],
)
CACHE_ERRORS = Counter(
    "scaleserve_cache_errors_total",
    "Cache operations that failed and were passed over (the request went on without them).",
    ["tier", "operation"],
)


# Streaming and the standard protocols (Open Inference Protocol, OpenAI-compatible).
PIPELINE_STEP_DURATION = Histogram(
    "scaleserve_pipeline_step_duration_seconds",
    "Time each step of a pipeline took, per item (a model step's includes its queue wait).",
    ["pipeline", "step"],
    buckets=LATENCY_BUCKETS_S,
)
PIPELINE_STEPS_RESUMED = Counter(
    "scaleserve_pipeline_steps_resumed_total",
    "Steps of pipeline jobs not run again on a rerun, their recorded output taken instead.",
    ["pipeline"],
)
TIME_TO_FIRST_CHUNK = Histogram(
    "scaleserve_time_to_first_chunk_seconds",
    "Time from a streaming request to its first chunk, in the gateway.",
    ["model"],
    buckets=LATENCY_BUCKETS_S,
)
STREAMS = Counter(
    "scaleserve_streams_total",
    "Streams ended in the gateway, by outcome (completed, failed, disconnected).",
    ["model", "outcome"],
)
TOKENS = Counter(
    "scaleserve_tokens_total",
    "Tokens the OpenAI-compatible routes counted, by direction (prompt, completion).",
    ["model", "direction"],
)
