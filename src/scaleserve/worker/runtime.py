"""Runtime adapters: how a worker shares the machine's CPUs and finds its accelerator.

The supervisor gives each worker a share of the CPUs in ``SCALESERVE_CPU_THREADS``; the
worker exports it to OpenMP/MKL/OpenBLAS before the model's libraries load, and the helpers
here pass it to PyTorch and ONNX Runtime. On a machine with CUDA the helpers pick the GPU
(and half precision where asked); everywhere else they fall back to the CPU.
"""

from __future__ import annotations

import os
import sys
from typing import Any

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


def use_half_precision(device: Any) -> bool:
    """Half precision pays off on a GPU only; on a CPU it is slower and less exact."""
    return getattr(device, "type", str(device)) == "cuda"


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
