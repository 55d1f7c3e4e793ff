"""The semantic index: the texts a model answered, as vectors, searched for a close neighbour.

One usearch HNSW index (cosine) per model in each gateway, bounded by the policy's
``max_entries`` (oldest out first); with Redis, gateways share what they index
(``scaleserve.cache.backends.redis_neighbours``). A neighbour is only a candidate inside
its partition (model version, scope, and the non-text part of the item), only above
``min_similarity``, and only if the false-hit guard (``scaleserve.cache.guard``) finds
nothing that tells the two texts apart. The outputs themselves stay in the exact tiers,
under the neighbour's key.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from usearch.index import Index

from scaleserve.cache.guard import Signature, agree
from scaleserve.observe import metrics

Vector = NDArray[np.float32]

_CANDIDATES = 16  # neighbours examined per search: other partitions and guard refusals skip


class Outcome(enum.Enum):
    HIT = "hit"
    MISS = "miss"  # nothing above the similarity threshold in the partition
    REJECTED = "rejected"  # something was, but the guard told them apart


@dataclass(frozen=True)
class Neighbour:
    key: str  # the exact-cache key of the item whose output answers
    partition: str
    signature: Signature


@dataclass(frozen=True)
class Search:
    outcome: Outcome
    neighbour: Neighbour | None = None
    similarity: float = 0.0


class SemanticIndex:
    """One model's searchable texts."""

    def __init__(
        self, model: str, max_entries: int, min_similarity: float, guard: bool = True
    ) -> None:
        self.max_entries = max_entries
        self.min_similarity = min_similarity
        self._guard = guard
        self._index: Any = None  # created at the first vector, which gives the dimension
        self._neighbours: OrderedDict[int, Neighbour] = OrderedDict()
        self._labels: dict[str, int] = {}
        self._next_label = 0
        self._evictions = metrics.CACHE_EVICTIONS.labels(model, "semantic")
        self._size = metrics.CACHE_ENTRIES.labels(model, "semantic")

    def __len__(self) -> int:
        return len(self._neighbours)

    def search(self, vector: Vector, partition: str, signature: Signature) -> Search:
        if not self._neighbours:
            return Search(Outcome.MISS)
        matches = self._index.search(vector, min(_CANDIDATES, len(self._neighbours)))
        outcome = Outcome.MISS
        for label, distance in zip(matches.keys, matches.distances, strict=True):
            similarity = 1.0 - float(distance)
            if similarity < self.min_similarity:
                break  # ordered nearest first
            neighbour = self._neighbours.get(int(label))
            if neighbour is None or neighbour.partition != partition:
                continue
            if not self._guard or agree(signature, neighbour.signature):
                return Search(Outcome.HIT, neighbour, similarity)
            outcome = Outcome.REJECTED
        return Search(outcome)

    def add(self, vector: Vector, neighbour: Neighbour) -> None:
        if self._index is None:
            self._index = Index(ndim=len(vector), metric="cos", dtype="f32")
        elif len(vector) != self._index.ndim:
            return  # not a vector of this index's embedding model
        self.discard(neighbour.key)
        label = self._next_label
        self._next_label += 1
        self._index.add(label, vector)
        self._neighbours[label] = neighbour
        self._labels[neighbour.key] = label
        evicted = 0
        while len(self._neighbours) > self.max_entries:
            self._forget(next(iter(self._neighbours)))
            evicted += 1
        if evicted:
            self._evictions.inc(evicted)
        self._size.set(len(self._neighbours))

    def discard(self, key: str) -> None:
        """Drop the text stored under ``key`` (its output expired, or it is being replaced)."""
        label = self._labels.get(key)
        if label is not None:
            self._forget(label)
            self._size.set(len(self._neighbours))

    def clear(self) -> int:
        dropped = len(self._neighbours)
        self._index = None
        self._neighbours.clear()
        self._labels.clear()
        self._size.set(0)
        return dropped

    def _forget(self, label: int) -> None:
        neighbour = self._neighbours.pop(label)
        del self._labels[neighbour.key]
        self._index.remove(label)
