"""The model of ``benchmarks/autoscale.py``: its batches take time off the CPU, as a
GPU-bound model's do, so that a fleet of several workers fits on two cores."""

from __future__ import annotations

import time

import scaleserve

BATCH_S = 0.2
"""Seconds per batch of up to 8 items: one worker serves 40 items/s at full batches."""


class Bursty(scaleserve.Model):
    """Autoscaled between 1 and 6 workers on a 1 s latency target."""

    name = "bursty"
    max_batch_size = 8
    max_wait_ms = 5
    timeout_s = 10
    worker_cpus = 0.25  # it sleeps: four fit on one core
    autoscale = scaleserve.Autoscale(
        min_workers=1,
        max_workers=6,
        target_p95_ms=1000,
        down_stabilization_s=10,
    )

    def predict(self, batch: list[float]) -> list[float]:
        time.sleep(BATCH_S)
        return [value * 2 for value in batch]
