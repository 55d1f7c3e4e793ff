"""The embedded collection's HNSW graph (hnswlib), keyed by slot.

Chosen by measurement (``benchmarks/vectors.py``, 117,159 MiniLM vectors of WordNet
glosses, M=16, ef_construction=128): at the same recall hnswlib answered 2.4 to 2.6 times the
queries of usearch and 1.2 to 1.6 times those of faiss's HNSWFlat, and built 2.2 times faster than
usearch; unlike faiss's HNSW it updates and deletes in place. Distances follow the
metric: ``ip`` is 1 - dot (cosine on unit vectors), ``l2`` the squared distance.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import hnswlib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

from scaleserve.vectors.records import Metric

M = 16
EF_CONSTRUCTION = 128
_SPACE = {Metric.COSINE: "ip", Metric.DOT: "ip", Metric.L2: "l2"}


class GraphIndex:
    def __init__(self, metric: Metric, dimension: int, capacity: int = 1024) -> None:
        self._space, self._dimension = _SPACE[metric], dimension
        self._index = hnswlib.Index(space=self._space, dim=dimension)
        self._index.init_index(max_elements=capacity, ef_construction=EF_CONSTRUCTION, M=M)
        self._index.set_num_threads(1)  # queries run one at a time, inline

    def upsert(self, slots: Sequence[int], rows: npt.NDArray[np.float32]) -> None:
        """Insert, replace or revive (after a deletion) the points of ``slots``."""
        needed = self._index.get_current_count() + len(slots)
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, 2 * self._index.get_max_elements()))
        self._index.add_items(rows, np.asarray(slots, dtype=np.uint64), num_threads=1)

    def remove(self, slot: int) -> None:
        """Hide ``slot`` from searches (idempotent: a replay may remove it twice)."""
        with contextlib.suppress(RuntimeError):  # already deleted, or never added
            self._index.mark_deleted(slot)

    def search(
        self, query: npt.NDArray[np.float32], count: int, ef: int
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """The ``count`` nearest slots and their distances; ``RuntimeError`` when the graph
        cannot reach that many (deleted points in the way)."""
        self._index.set_ef(max(ef, count))
        slots, distances = self._index.knn_query(query, k=count, num_threads=1)
        return slots[0].astype(np.intp), distances[0]

    def save(self, path: str) -> None:
        self._index.save_index(path)

    def load(self, path: str) -> None:
        """The graph saved at ``path`` in place of this one."""
        loaded = hnswlib.Index(space=self._space, dim=self._dimension)
        loaded.load_index(path, max_elements=0)
        loaded.set_num_threads(1)
        self._index = loaded
