"""Batching figures read from a scaleserve service's ``/metrics`` before and after a run.

They tell why a served number is what it is: how full the batches were, and how much of
the run the workers spent inside ``predict``.
"""

from __future__ import annotations

import os
import re
import time
import urllib.request
from dataclasses import dataclass

_SAMPLE = re.compile(r"^(scaleserve_[a-z_]+)\{([^}]*)\}\s+(\S+)$", re.MULTILINE)
_BATCH = "scaleserve_batch_size"
_INFERENCE = "scaleserve_inference_duration_seconds"
_DEPTH = "scaleserve_queue_depth"


def _auth() -> dict[str, str]:
    value = os.environ.get("BENCH_AUTHORIZATION")  # see processes.AUTH_ENV
    return {"Authorization": value} if value else {}


@dataclass(frozen=True)
class Batching:
    """Items the workers computed, mean items per ``predict`` call, and seconds spent in
    ``predict`` per second of run (summed over workers; 1.0 = one worker never idle).
    ``None`` where the service does not report it."""

    items: float | None
    mean_batch_size: float | None
    predict_busy: float | None


@dataclass(frozen=True)
class ServiceMetrics:
    """The ``/metrics`` of one model of a running scaleserve service."""

    base_url: str
    model: str

    def scrape(self) -> dict[str, float]:
        """Every ``scaleserve_*`` sample labelled with this model alone, by name."""
        request = urllib.request.Request(self.base_url + "/metrics", headers=_auth())
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        label = f'model="{self.model}"'
        return {
            name: float(value)
            for name, labels, value in _SAMPLE.findall(text)
            if labels.split(",") == [label]
        }

    def wait_idle(self, timeout_s: float = 120.0) -> float:
        """Wait until the model has nothing queued or running; return the seconds waited.

        wrk leaves its last requests in flight when it stops; the service still computes
        them, and that work must not land in the next measured run.
        """
        started = time.monotonic()
        while self.scrape().get(_DEPTH, 0.0) > 0:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{self.model}'s queue did not drain in {timeout_s}s")
            time.sleep(0.05)
        return time.monotonic() - started


def batching(before: dict[str, float], after: dict[str, float], elapsed_s: float) -> Batching:
    """What happened between two ``scrape`` results taken ``elapsed_s`` apart."""

    def delta(name: str) -> float | None:
        if name not in before or name not in after:
            return None
        return after[name] - before[name]

    batches, items = delta(f"{_BATCH}_count"), delta(f"{_BATCH}_sum")
    busy_s = delta(f"{_INFERENCE}_sum")
    return Batching(
        items=items,
        mean_batch_size=items / batches if items is not None and batches else None,
        predict_busy=busy_s / elapsed_s if busy_s is not None and elapsed_s > 0 else None,
    )
