"""Echo: returns each input unchanged. The baseline for measuring scaleserve's own overhead."""

from typing import Any

import scaleserve


class Echo(scaleserve.Model):
    """Returns every input item as it came."""

    name = "echo"
    max_batch_size = 64
    max_wait_ms = 0  # never hold a lone request back: under load batches fill by themselves
    example_input = "hello"

    def predict(self, batch: list[Any]) -> list[Any]:
        return batch
