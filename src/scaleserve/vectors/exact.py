"""Exact nearest neighbours in numpy: the embedded index's plan for small candidate sets,
and the ground truth of the benchmark.

Vectors are kept as the metric wants them: unit length for cosine (so cosine is a dot
product), as given otherwise. Every score is "higher is nearer".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scaleserve.vectors.records import Metric

Matrix = npt.NDArray[np.float32]


def prepared(vectors: Matrix, metric: Metric) -> Matrix:
    """``vectors`` (rows) as stored for ``metric``."""
    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric is not Metric.COSINE:
        return rows
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / np.where(norms == 0, 1, norms)).astype(np.float32)


def scores(rows: Matrix, query: Matrix, metric: Metric) -> npt.NDArray[np.float32]:
    """The score of each of ``rows`` (prepared) against one prepared ``query``."""
    if metric is Metric.L2:
        diff = rows - query
        distances: npt.NDArray[np.float32] = np.einsum("ij,ij->i", diff, diff)
        return -distances
    values: npt.NDArray[np.float32] = rows @ query
    return values


def top_k(values: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Positions of the ``k`` highest ``values``, highest first."""
    if k >= len(values):
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.argsort(-values[part], kind="stable")]
