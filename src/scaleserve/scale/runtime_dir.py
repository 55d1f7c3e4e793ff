"""Per-run scratch space of ``scaleserve serve``: the queue socket and the shared metrics files.

Kept free of imports on purpose: the metrics directory must be in the environment before
``prometheus_client`` is first imported, in the gateway and in every worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class RuntimeDir:
    root: Path

    @classmethod
    def create(cls) -> RuntimeDir:
        """A fresh directory, exported as the metrics directory of this process and its children."""
        root = Path(tempfile.mkdtemp(prefix="scaleserve-"))
        (root / "metrics").mkdir()
        runtime = cls(root)
        os.environ[MULTIPROC_ENV] = runtime.metrics_dir
        return runtime

    @property
    def socket_path(self) -> str:
        return str(self.root / "queue.sock")

    @property
    def metrics_dir(self) -> str:
        return str(self.root / "metrics")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
