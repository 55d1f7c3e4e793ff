"""The few shapes drift monitoring speaks: field kinds, statistics, scores and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldKind(StrEnum):
    """How a field of a model's input or output item is summarised.

    ``numeric`` fields are one feature (the field's path); ``label`` fields are one feature of
    category frequencies; ``text`` fields give ``<path>.length`` (characters) and
    ``<path>.words``; ``vector`` fields (lists of numbers, such as embeddings) give
    ``<path>.norm`` and ``<path>.centroid_distance`` (cosine distance to the reference's
    anchor centroid), and the field itself is scored by how far its mean vector moved.
    ``ignore`` is only ever declared: the field is not watched.
    """

    NUMERIC = "numeric"
    LABEL = "label"
    TEXT = "text"
    VECTOR = "vector"
    IGNORE = "ignore"


class Statistic(StrEnum):
    """A distance between a reference and a recent window of one feature."""

    KS = "ks"  # Kolmogorov-Smirnov statistic: the largest gap between the two CDFs (numbers)
    PSI = "psi"  # population stability index over the reference's deciles (numbers)
    JS = "js"  # Jensen-Shannon distance, base 2, in [0, 1] (label frequencies)
    # How far the mean vector moved, over the reference's RMS distance from its mean (vectors)
    MEAN_SHIFT = "mean_shift"


@dataclass(frozen=True, slots=True)
class DriftScore:
    """One feature's distance between the reference window and the recent window."""

    feature: str
    kind: FieldKind
    statistic: Statistic
    value: float
    threshold: float
    drifted: bool
    reference_count: int  # values of the feature in each window (not items: a list adds more)
    recent_count: int


@dataclass(frozen=True, slots=True)
class DriftAlert:
    """A feature's score went past its threshold (sent once, until it falls back below)."""

    model: str
    version: str
    feature: str
    kind: FieldKind
    statistic: Statistic
    value: float
    threshold: float
    at: float  # the monitor's clock (Unix seconds by default)
