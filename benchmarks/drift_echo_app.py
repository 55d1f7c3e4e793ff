"""Echo with drift monitoring on, for ``benchmarks/observe.py`` (otherwise the example's)."""

from typing import Any

import scaleserve


class DriftEcho(scaleserve.Model):
    name = "echo"
    max_batch_size = 64
    max_wait_ms = 0
    example_input = "hello"
    drift = True

    def predict(self, batch: list[Any]) -> list[Any]:
        return batch
