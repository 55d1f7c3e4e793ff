"""scaleserve: serve AI models at scale.

Write a ``Model`` subclass, then run ``scaleserve serve path/to/app``.
"""

from scaleserve.model.base import Model
from scaleserve.pipelines.declare import ModelStep, Pipeline, StepContext
from scaleserve.scale.autoscale import Autoscale
from scaleserve.worker.runtime import (
    cpu_threads,
    onnx_session,
    torch_device,
    torch_dtype,
    use_half_precision,
)

__version__ = "0.1.0"

__all__ = [
    "Autoscale",
    "Model",
    "ModelStep",
    "Pipeline",
    "StepContext",
    "__version__",
    "cpu_threads",
    "onnx_session",
    "torch_device",
    "torch_dtype",
    "use_half_precision",
]
