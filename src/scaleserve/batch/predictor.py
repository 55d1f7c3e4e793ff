"""The seam between a batch run and whatever runs the model.

A ``Predictor`` takes a list of items and answers one ``RowResult`` per item, in order: the
output, or why that item failed (its type, or the model raising on it). A failure of one
item never fails the others: a request that fails as a whole is split and sent again until
the failing items are found. Only a fault of the service itself (no worker can load the
model, the server refuses the key) raises, and stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

RETRIES = 3
"""Attempts of a request whose worker died, before its items are failed."""


@dataclass(frozen=True)
class RowResult:
    output: Any = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class Predictor(Protocol):
    @property
    def chunks_in_flight(self) -> int:
        """Chunks worth predicting at once (reading and writing overlap the model's work)."""
        ...

    async def predict(self, items: list[Any], key: str | None = None) -> list[RowResult]:
        """One chunk's items; their results in order. ``key`` names the chunk in its run,
        the same when a resumed run predicts it again: a predictor whose work lives
        elsewhere (a deployment's jobs) uses it so that the work is not done twice."""
        ...
