"""Utilisation and memory of the GPUs a worker holds, read through NVML every few seconds
and exported as live gauges (``scaleserve_accelerator_*``), where NVML is present.

NVML comes with NVIDIA's driver; its Python binding is ``nvidia-ml-py`` (the ``gpu``
extra). Without either, or for a worker that holds no GPU, nothing runs. A reading that
fails is logged once and the thread stops: metrics never take a worker down.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from typing import Any

from prometheus_client import Gauge

from scaleserve.model.spec import ModelSpec

log = logging.getLogger(__name__)

READ_EVERY_S = 5.0
_LABELS = ["model", "version", "worker", "device"]

UTILIZATION = Gauge(
    "scaleserve_accelerator_utilization_ratio",
    "Share of the last sample period the GPU was busy (NVML), per worker and device.",
    _LABELS,
    multiprocess_mode="livemax",
)
MEMORY_USED = Gauge(
    "scaleserve_accelerator_memory_used_bytes",
    "GPU memory in use (NVML), per worker and device.",
    _LABELS,
    multiprocess_mode="livemax",
)
MEMORY_TOTAL = Gauge(
    "scaleserve_accelerator_memory_total_bytes",
    "GPU memory in all (NVML), per worker and device.",
    _LABELS,
    multiprocess_mode="livemax",
)


def visible_devices(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[int]:
    """The NVML indexes a worker was given in ``CUDA_VISIBLE_DEVICES`` (numbers only)."""
    value = environ.get("CUDA_VISIBLE_DEVICES", "")
    return [int(part) for part in value.split(",") if part.strip().isdigit()]


def start(spec: ModelSpec, stop: threading.Event) -> threading.Thread | None:
    """Read this worker's GPUs until ``stop`` is set; ``None`` when there is nothing to read."""
    devices = visible_devices()
    if spec.worker_gpus == 0 or not devices:
        return None
    nvml = _nvml()
    if nvml is None:
        return None
    labels = [(spec.name, spec.version, str(os.getpid()), str(index)) for index in devices]
    thread = threading.Thread(
        target=_read_until, args=(nvml, devices, labels, stop), daemon=True, name="nvml"
    )
    thread.start()
    return thread


def _nvml() -> Any:
    try:
        nvml = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:  # no binding, no driver, no device: nothing to export
        return None
    return nvml


def _read_until(
    nvml: Any, devices: list[int], labels: list[tuple[str, ...]], stop: threading.Event
) -> None:
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(index) for index in devices]
        while True:
            for handle, label in zip(handles, labels, strict=True):
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                UTILIZATION.labels(*label).set(nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100)
                MEMORY_USED.labels(*label).set(memory.used)
                MEMORY_TOTAL.labels(*label).set(memory.total)
            if stop.wait(READ_EVERY_S):
                return
    except Exception:
        log.exception("reading GPU metrics through NVML failed; they stop here")
