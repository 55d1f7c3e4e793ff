"""Typed wrappers over the two Apache DataSketches this package uses (the one import of it).

``NumericSketch`` is a KLL quantiles sketch of doubles: about 5 KiB however many values it
saw, with a rank error near 1.3 % (k=200). ``LabelSketch`` is a frequent-items sketch of
strings: it tracks at most 48 labels exactly and folds the rest into what its total counts
beyond them; labels are cut to ``LABEL_MAX_CHARS`` so its size is bounded too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasketches  # type: ignore[import-untyped]  # ships no type information
import numpy as np
import numpy.typing as npt

KLL_K = 200
LABEL_LG_MAX_K = 6  # a map of 64 slots: 48 labels tracked
LABEL_MAX_CHARS = 64
_SMALL = 8  # fewer values than this are added one by one (an array costs more than it saves)

# What the C++ deserialisers raise on bytes that are not a sketch of theirs.
_CORRUPT = (ValueError, IndexError, RuntimeError, TypeError)


class SketchCorrupt(ValueError):
    """Bytes that do not hold a sketch of the expected type."""


class NumericSketch:
    """Quantiles of a stream of finite numbers, in bounded memory, mergeable."""

    __slots__ = ("_sketch",)

    def __init__(self, sketch: Any = None) -> None:
        self._sketch: Any = datasketches.kll_doubles_sketch(KLL_K) if sketch is None else sketch

    @property
    def count(self) -> int:
        return int(self._sketch.n)

    def add(self, values: Sequence[float]) -> None:
        if len(values) < _SMALL:
            for value in values:
                self._sketch.update(value)
        else:
            self._sketch.update(np.asarray(values, dtype=np.float64))

    def add_array(self, values: npt.NDArray[np.float64]) -> None:
        self._sketch.update(np.ascontiguousarray(values, dtype=np.float64))

    def merge(self, other: NumericSketch) -> None:
        self._sketch.merge(other._sketch)

    def copy(self) -> NumericSketch:
        return NumericSketch.from_bytes(self.to_bytes())

    @property
    def rank_error(self) -> float:
        """The sketch's rank error (99th percentile, one-sided): what its CDF may be off by."""
        return float(self._sketch.normalized_rank_error(False))

    def quantiles(self, ranks: Sequence[float]) -> list[float]:
        return list(self._sketch.get_quantiles(ranks))

    def cdf(self, points: Sequence[float]) -> list[float]:
        """P(X <= point) for each of the increasing ``points``, then 1.0."""
        return list(self._sketch.get_cdf(points, True))

    def pmf(self, points: Sequence[float]) -> list[float]:
        """The mass of the ``len(points) + 1`` intervals ``(-inf, p0], (p0, p1], ...``."""
        return list(self._sketch.get_pmf(points, True))

    def to_bytes(self) -> bytes:
        return bytes(self._sketch.serialize())

    @classmethod
    def from_bytes(cls, data: bytes) -> NumericSketch:
        try:
            return cls(datasketches.kll_doubles_sketch.deserialize(data))
        except _CORRUPT as error:
            raise SketchCorrupt(f"not a KLL doubles sketch: {error}") from error


class LabelSketch:
    """Approximate frequencies of labels, in bounded memory, mergeable."""

    __slots__ = ("_sketch",)

    def __init__(self, sketch: Any = None) -> None:
        self._sketch: Any = (
            datasketches.frequent_strings_sketch(LABEL_LG_MAX_K) if sketch is None else sketch
        )

    @property
    def count(self) -> int:
        return int(self._sketch.total_weight)

    def add(self, labels: Sequence[str]) -> None:
        update = self._sketch.update
        for label in labels:
            update(label)

    def merge(self, other: LabelSketch) -> None:
        self._sketch.merge(other._sketch)

    def copy(self) -> LabelSketch:
        return LabelSketch.from_bytes(self.to_bytes())

    def labels(self) -> list[str]:
        """The labels the sketch may hold above its error (no frequent label is left out)."""
        no_false_negatives = datasketches.frequent_items_error_type.NO_FALSE_NEGATIVES
        return [str(row[0]) for row in self._sketch.get_frequent_items(no_false_negatives)]

    def estimate(self, label: str) -> int:
        return int(self._sketch.get_estimate(label))

    def to_bytes(self) -> bytes:
        return bytes(self._sketch.serialize())

    @classmethod
    def from_bytes(cls, data: bytes) -> LabelSketch:
        try:
            return cls(datasketches.frequent_strings_sketch.deserialize(data))
        except _CORRUPT as error:
            raise SketchCorrupt(f"not a frequent-strings sketch: {error}") from error
