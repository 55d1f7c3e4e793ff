"""Runtime adapters: how a worker shares the machine's CPUs and finds its accelerator.

The supervisor gives each worker a share of the CPUs in ``SCALESERVE_CPU_THREADS``; the
worker exports it to OpenMP/MKL/OpenBLAS before the model's libraries load, and the helpers
here pass it to PyTorch and ONNX Runtime. On a machine with CUDA the helpers pick the GPU
(and half precision where asked); everywhere else they fall back to the CPU.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

THREADS_ENV = "SCALESERVE_CPU_THREADS"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cpu_threads() -> int:
    """CPU threads this worker should use for compute."""
    value = os.environ.get(THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def configure_threads() -> None:
    """Export this worker's thread share to the numeric libraries (user settings win)."""
    threads = str(cpu_threads())
    for var in _THREAD_VARS:
        os.environ.setdefault(var, threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(cpu_threads())


def torch_device(prefer_gpu: bool = True) -> Any:
    """``cuda`` when a GPU is usable and wanted, else ``cpu``; also sets torch's thread count."""
    import torch

    torch.set_num_threads(cpu_threads())
    if prefer_gpu and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@dataclass
class _Precision:
    model: str = ""
    half_asked: bool = False
    fallback_logged: bool = False


_precision = _Precision()


def configure_precision(model: str, half_precision: bool) -> None:
    """Record what the model being loaded asks for (its ``half_precision``)."""
    _precision.model, _precision.half_asked = model, half_precision
    _precision.fallback_logged = False


def use_half_precision(device: Any) -> bool:
    """Whether to run in half precision on ``device``: only if the model asks for it and
    the device is a GPU (on a CPU half precision is slower and less exact, so the worker
    runs in float32 and says so once in its log)."""
    on_gpu = getattr(device, "type", str(device)) == "cuda"
    if _precision.half_asked and not on_gpu and not _precision.fallback_logged:
        _precision.fallback_logged = True
        log.warning(
            "model %r asks for half precision, but this worker has no CUDA device (%s): "
            "it runs in float32", _precision.model, device,
        )  # fmt: skip
    return _precision.half_asked and on_gpu


def torch_dtype(device: Any) -> Any:
    """``torch.float16`` where ``use_half_precision(device)``, else ``torch.float32``."""
    import torch

    return torch.float16 if use_half_precision(device) else torch.float32


def onnx_session(path: str, prefer_gpu: bool = True) -> Any:
    """An ONNX Runtime session on the GPU when available, with this worker's CPU share."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_threads()
    options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if prefer_gpu and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(path, sess_options=options, providers=providers)
