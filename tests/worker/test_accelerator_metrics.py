"""GPU metrics through NVML. No GPU here: the reading runs against a stand-in for the
``pynvml`` binding with NVML's call shapes; on a machine without the binding or without a
GPU, nothing starts."""

from __future__ import annotations

import threading
import types
from pathlib import Path

import pytest

from scaleserve.model.loader import load_specs
from scaleserve.worker import accelerator_metrics as gpu

APP = str(Path(__file__).parents[1] / "fixtures" / "app.py")


def probe_spec(gpus: int):
    import dataclasses

    [spec] = [s for s in load_specs(APP) if s.name == "probe"]
    return dataclasses.replace(spec, worker_gpus=gpus)


def test_visible_devices_are_the_numbered_ones() -> None:
    assert gpu.visible_devices({"CUDA_VISIBLE_DEVICES": "2,3"}) == [2, 3]
    assert gpu.visible_devices({"CUDA_VISIBLE_DEVICES": "GPU-5f1c,1"}) == [1]
    assert gpu.visible_devices({}) == []


def test_a_cpu_worker_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert gpu.start(probe_spec(0), threading.Event()) is None


def test_without_nvml_nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)  # import fails
    assert gpu.start(probe_spec(1), threading.Event()) is None


def test_a_gpu_workers_devices_are_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    read = threading.Event()

    def memory(handle: int) -> types.SimpleNamespace:
        read.set()
        return types.SimpleNamespace(used=handle * 1000, total=80_000)

    nvml = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda index: index + 1,
        nvmlDeviceGetMemoryInfo=memory,
        nvmlDeviceGetUtilizationRates=lambda handle: types.SimpleNamespace(gpu=42),
    )
    monkeypatch.setitem(__import__("sys").modules, "pynvml", nvml)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    stop = threading.Event()
    thread = gpu.start(probe_spec(1), stop)
    assert thread is not None
    assert read.wait(10)
    stop.set()
    thread.join(10)
    import os

    labels = ("probe", "1", str(os.getpid()), "3")
    assert gpu.UTILIZATION.labels(*labels)._value.get() == pytest.approx(0.42)
    assert gpu.MEMORY_USED.labels(*labels)._value.get() == 4000
    assert gpu.MEMORY_TOTAL.labels(*labels)._value.get() == 80_000
