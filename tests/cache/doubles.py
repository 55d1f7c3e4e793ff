"""A broker double for in-process tests of the cache: it computes instead of queueing."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
import orjson

from scaleserve.errors import ServingError

EMBEDDER = "embedder"
DIMENSIONS = 64


def bag_of_words(text: str) -> list[float]:
    """A unit vector of hashed lowercase words: texts with the same words point the same way."""
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    return (vector / max(float(np.linalg.norm(vector)), 1e-9)).tolist()  # type: ignore[no-any-return]


class ComputingBroker:
    """Answers ``submit`` at once: the model echoes each item with a running count ``n``; the
    ``embedder`` model returns ``bag_of_words`` vectors. ``failures[model]`` makes that model's
    submits raise; ``ready`` is what ``ready_workers`` says."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, list[Any]]] = []
        self.failures: dict[str, ServingError] = {}
        self.ready = 1
        self._n = 0

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def submit(self, model: str, payloads: list[bytes], timeout_s: float) -> list[bytes]:
        if model in self.failures:
            raise self.failures[model]
        items = [orjson.loads(p) for p in payloads]
        self.submitted.append((model, items))
        if model == EMBEDDER:
            return [orjson.dumps(bag_of_words(text)) for text in items]
        return [orjson.dumps({"item": item, "n": self._next()}) for item in items]

    def computed(self, model: str) -> list[Any]:
        return [item for name, items in self.submitted if name == model for item in items]

    def depth(self, model: str) -> int:
        return 0

    def queued(self, model: str) -> int:
        return 0

    def ready_workers(self, model: str) -> int:
        return self.ready

    def _next(self) -> int:
        self._n += 1
        return self._n
