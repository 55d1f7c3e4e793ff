"""Echo with every prediction audited, for ``benchmarks/audit.py`` (otherwise the example's)."""

from typing import Any

import scaleserve
from scaleserve.audit.policy import AuditPolicy


class AuditedEcho(scaleserve.Model):
    name = "echo"
    max_batch_size = 64
    max_wait_ms = 0
    example_input = "hello"
    audit = AuditPolicy(sample=1.0, inputs="full", outputs="full")

    def predict(self, batch: list[Any]) -> list[Any]:
        return batch
