"""The shapes of the vectors part: a collection's spec, a point, a hit, and their limits."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scaleserve.errors import InvalidInput

NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_DIMENSION = 4096
MAX_K = 1000
MAX_ID_LENGTH = 256
EXACT_LIMIT = 10_000
"""A query whose filter passes at most this many points searches them exactly (no graph)."""
MAX_POINTS_PER_CALL = 1000
"""Most points one upsert, get or delete takes (more: 413)."""


class Metric(enum.StrEnum):
    """How two vectors compare; every score is "higher is nearer"."""

    COSINE = "cosine"
    DOT = "dot"
    L2 = "l2"
    """Scored as the negative squared Euclidean distance."""


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """A collection as its owner declared it; ``model`` embeds texts given instead of vectors."""

    name: str
    dimension: int
    metric: Metric = Metric.COSINE
    model: str | None = None

    def __post_init__(self) -> None:
        if not NAME_RULE.match(self.name):
            raise InvalidInput(
                f"collection name {self.name!r} must match {NAME_RULE.pattern}",
                [{"loc": ["body", "name"], "msg": "invalid name", "type": "value"}],
            )
        if not 1 <= self.dimension <= MAX_DIMENSION:
            raise InvalidInput(
                f"dimension must be 1..{MAX_DIMENSION}",
                [{"loc": ["body", "dimension"], "msg": "out of range", "type": "value"}],
            )


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    spec: CollectionSpec
    count: int
    fields: Mapping[str, str] = field(default_factory=dict)
    """Payload field -> its type (``keyword``, ``number``, ``bool``), as upserts set them."""


@dataclass(frozen=True, slots=True)
class Point:
    id: str
    vector: list[float]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any] | None = None
    vector: list[float] | None = None
