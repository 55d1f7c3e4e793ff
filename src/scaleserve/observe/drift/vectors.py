"""The vector math of drift: norms, cosine distances to an anchor, a mergeable running mean."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


def norms(vectors: Matrix) -> Matrix:
    """The Euclidean norm of each row."""
    result: Matrix = np.linalg.norm(vectors, axis=1)
    return result


def cosine_distances(vectors: Matrix, anchor: Matrix) -> Matrix:
    """``1 - cos`` between each row and ``anchor``; rows of norm zero are left out."""
    row_norms = norms(vectors)
    anchor_norm = float(np.linalg.norm(anchor))
    keep = row_norms > 0
    if anchor_norm == 0 or not keep.any():
        return np.empty(0)
    cosines = (vectors[keep] @ anchor) / (row_norms[keep] * anchor_norm)
    return 1.0 - np.clip(cosines, -1.0, 1.0)


class RunningMean:
    """The mean of the vectors seen so far and of their squared norms: one vector's memory."""

    __slots__ = ("count", "mean", "square_norm")

    def __init__(
        self, dim: int, count: int = 0, mean: Matrix | None = None, square_norm: float = 0.0
    ) -> None:
        self.count = count
        self.mean: Matrix = np.zeros(dim) if mean is None else mean
        self.square_norm = square_norm  # the mean of |x|^2

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def spread(self) -> float:
        """The root mean square distance of the vectors from their mean."""
        return math.sqrt(max(self.square_norm - float(self.mean @ self.mean), 0.0))

    def add(self, vectors: Matrix) -> None:
        if len(vectors):
            square_norm = float(np.einsum("ij,ij->", vectors, vectors)) / len(vectors)
            self.combine(RunningMean(self.dim, len(vectors), vectors.mean(axis=0), square_norm))

    def combine(self, other: RunningMean) -> None:
        """Fold in another window's running mean (of vectors of the same length)."""
        total = self.count + other.count
        if other.count:
            weight = other.count / total
            self.mean = self.mean + (other.mean - self.mean) * weight
            self.square_norm += (other.square_norm - self.square_norm) * weight
            self.count = total

    def copy(self) -> RunningMean:
        return RunningMean(self.dim, self.count, self.mean.copy(), self.square_norm)


def mean_shift(reference: RunningMean, recent: RunningMean) -> float:
    """|mean_recent - mean_reference| / spread_reference (0 when the reference has no spread)."""
    spread = reference.spread
    return float(np.linalg.norm(recent.mean - reference.mean)) / spread if spread > 0 else 0.0
