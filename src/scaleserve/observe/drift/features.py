"""Turning JSON-like items into named features, in bounded work and memory.

A field is a path into an item: ``input.age``, ``output.label``,
``input.messages[].content`` (``[]``: any of a list's first ``LIST_ITEMS`` elements). Its kind
is declared in the spec or inferred from the first values seen: numbers are numeric, bools
labels, lists of numbers vectors; a string field is a label if its first
``STRING_DECISION_VALUES`` values are all short and without spaces, else text. A field keeps
its kind; values of another type are skipped and counted, as are nulls, NaN and infinities.
At most ``spec.max_fields`` fields are kept per monitor, so no payload grows memory or the
number of metric series without bound.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt

from scaleserve.observe.drift.sketches import LABEL_MAX_CHARS
from scaleserve.observe.drift.spec import DriftSpec
from scaleserve.observe.drift.types import FieldKind

LIST_ITEMS = 4  # elements of a list of objects or strings that are summarised
MAX_DEPTH = 6  # levels of nesting followed
MAX_KEYS = 64  # keys of one object followed
KEY_MAX_CHARS = 64
MAX_VECTOR_DIM = 8192  # longer lists of numbers are not vectors worth a centroid
CATEGORICAL_MAX_CHARS = 32  # inference: longer strings, or any with a space, are text
STRING_DECISION_VALUES = 16
TEXT_SCAN_CHARS = 65_536  # words are counted in a text's first characters only
PATH_CACHE_SIZE = 1024

DERIVED_SUFFIXES: Mapping[FieldKind, tuple[str, ...]] = {
    FieldKind.TEXT: (".length", ".words"),
    FieldKind.VECTOR: (".norm", ".centroid_distance"),
}

_NUMBERS = (int, float)


@dataclass(slots=True)
class FeatureBatch:
    """Feature values of some items, grouped by feature, ready to add to window summaries."""

    items: int = 0
    numbers: dict[str, list[float]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    vectors: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)  # (n, dim)
    kinds: dict[str, FieldKind] = field(default_factory=dict)  # feature or vector path: kind


@dataclass(slots=True)
class _Pending:
    """A string field whose kind is not decided yet, and what its first values gave."""

    labels: list[str] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)
    words: list[float] = field(default_factory=list)
    categorical: bool = True


class FeatureExtractor:
    """Infers and remembers the fields of one model version; extracts batches of features."""

    def __init__(self, spec: DriftSpec) -> None:
        self.kinds: dict[str, FieldKind] = dict(spec.fields)
        self._declared = frozenset(spec.fields)
        self.skipped: Counter[str] = Counter()
        self._only_declared = spec.only_declared
        self._max_fields = spec.max_fields
        self._pending: dict[str, _Pending] = {}
        self._raw_vectors: dict[str, list[Any]] = {}
        self._dims: dict[str, int] = {}
        self._paths: dict[tuple[str, Any], str] = {}

    def extract(self, inputs: list[Any], outputs: list[Any], items: int) -> FeatureBatch:
        """The features of some items' inputs (``input.…``) and outputs (``output.…``)."""
        batch = FeatureBatch(items=items)
        for value in inputs:
            self._walk(value, "input", 0, batch)
        for value in outputs:
            self._walk(value, "output", 0, batch)
        for path, rows in self._raw_vectors.items():
            matrix = self._matrix(path, rows)
            if len(matrix):
                batch.vectors[path] = matrix
                batch.kinds[path] = FieldKind.VECTOR
        self._raw_vectors.clear()
        return batch

    def _walk(self, value: Any, path: str, depth: int, batch: FeatureBatch) -> None:
        if depth > MAX_DEPTH:
            self.skipped["too_deep"] += 1
        elif isinstance(value, dict):
            if self.kinds.get(path) is not FieldKind.IGNORE:
                self._walk_dict(value, path, depth, batch)
        elif isinstance(value, list):
            self._walk_list(value, path, depth, batch)
        else:
            self._leaf(value, path, batch)

    def _walk_dict(self, value: dict[Any, Any], path: str, depth: int, batch: FeatureBatch) -> None:
        children = value.items()
        if len(value) > MAX_KEYS:
            self.skipped["too_many_keys"] += len(value) - MAX_KEYS
            children = islice(children, MAX_KEYS)  # type: ignore[assignment]
        for key, child in children:
            self._walk(child, self._child_path(path, key), depth + 1, batch)

    def _child_path(self, path: str, key: Any) -> str:
        """``path.key``, remembered for the fields kept (it is built for every value)."""
        child = self._paths.get((path, key))
        if child is None:
            child = f"{path}.{str(key)[:KEY_MAX_CHARS]}"
            if len(self._paths) < PATH_CACHE_SIZE:
                self._paths[path, key] = child
        return child

    def _walk_list(self, value: list[Any], path: str, depth: int, batch: FeatureBatch) -> None:
        kind = self.kinds.get(path)
        if not value or kind is FieldKind.IGNORE:
            return
        first = value[0]
        looks_numeric = isinstance(first, _NUMBERS) and not isinstance(first, bool)
        if kind is FieldKind.VECTOR or (kind is None and looks_numeric):
            if kind is not None or self._register(path, FieldKind.VECTOR):
                self._raw_vectors.setdefault(path, []).append(value)
        elif kind is not None:
            self.skipped["type_mismatch"] += 1
        else:
            for element in value[:LIST_ITEMS]:
                self._walk(element, f"{path}[]", depth + 1, batch)

    def _leaf(self, value: Any, path: str, batch: FeatureBatch) -> None:
        if value is None:
            self.skipped["null"] += 1
            return
        kind = self.kinds.get(path)
        if kind is None:
            kind = self._infer(value, path, batch)
        if kind is FieldKind.NUMERIC:
            self._number(value, path, batch)
        elif kind is FieldKind.LABEL:
            self._label(value, path, batch)
        elif kind is FieldKind.TEXT:
            self._text(value, path, batch)
        elif kind is FieldKind.VECTOR:
            self.skipped["type_mismatch"] += 1

    def _infer(self, value: Any, path: str, batch: FeatureBatch) -> FieldKind | None:
        """The kind of a new field, registered; None while a string field is undecided."""
        if isinstance(value, str):
            self._pend(value, path, batch)
            return None
        if isinstance(value, bool):
            kind = FieldKind.LABEL
        elif isinstance(value, _NUMBERS):
            kind = FieldKind.NUMERIC
        else:
            self.skipped["unsupported_type"] += 1
            return None
        return kind if self._register(path, kind) else None

    def adopt(self, features: Mapping[str, FieldKind]) -> None:
        """Give fields the kinds a reference's features have (declared kinds stay)."""
        for feature, kind in features.items():
            path = field_of(feature, kind)
            if path in self._declared or (self._only_declared and path not in self.kinds):
                continue
            self._pending.pop(path, None)
            if path in self.kinds or self._has_room():
                self.kinds[path] = kind

    def _has_room(self) -> bool:
        if self._only_declared:
            return False
        if len(self.kinds) + len(self._pending) >= self._max_fields:
            self.skipped["too_many_fields"] += 1
            return False
        return True

    def _register(self, path: str, kind: FieldKind) -> bool:
        if not self._has_room():
            return False
        self.kinds[path] = kind
        return True

    def _pend(self, value: str, path: str, batch: FeatureBatch) -> None:
        pending = self._pending.get(path)
        if pending is None:
            if not self._has_room():
                return
            pending = self._pending[path] = _Pending()
        words = _words(value)
        pending.labels.append(value[:LABEL_MAX_CHARS])
        pending.lengths.append(float(len(value)))
        pending.words.append(float(words))
        pending.categorical &= len(value) <= CATEGORICAL_MAX_CHARS and words <= 1
        if len(pending.labels) == STRING_DECISION_VALUES:
            del self._pending[path]
            self._decide(path, pending, batch)

    def _decide(self, path: str, pending: _Pending, batch: FeatureBatch) -> None:
        if pending.categorical:
            self.kinds[path] = FieldKind.LABEL
            _put(batch.labels, batch, path, FieldKind.LABEL, pending.labels)
        else:
            self.kinds[path] = FieldKind.TEXT
            _put(batch.numbers, batch, f"{path}.length", FieldKind.TEXT, pending.lengths)
            _put(batch.numbers, batch, f"{path}.words", FieldKind.TEXT, pending.words)

    def _number(self, value: Any, path: str, batch: FeatureBatch) -> None:
        if not isinstance(value, _NUMBERS) or isinstance(value, bool):
            self.skipped["type_mismatch"] += 1
            return
        try:
            number = float(value)
        except OverflowError:  # an int beyond a double's range
            number = math.inf
        if not math.isfinite(number):
            self.skipped["non_finite"] += 1
            return
        _put_one(batch.numbers, batch, path, FieldKind.NUMERIC, number)

    def _label(self, value: Any, path: str, batch: FeatureBatch) -> None:
        if isinstance(value, bool):
            label = "true" if value else "false"
        elif isinstance(value, str):
            label = value[:LABEL_MAX_CHARS]
        elif isinstance(value, int) and abs(value) < 10**18:
            label = str(value)
        else:
            self.skipped["type_mismatch"] += 1
            return
        _put_one(batch.labels, batch, path, FieldKind.LABEL, label)

    def _text(self, value: Any, path: str, batch: FeatureBatch) -> None:
        if not isinstance(value, str):
            self.skipped["type_mismatch"] += 1
            return
        _put_one(batch.numbers, batch, f"{path}.length", FieldKind.TEXT, float(len(value)))
        _put_one(batch.numbers, batch, f"{path}.words", FieldKind.TEXT, float(_words(value)))

    def _matrix(self, path: str, rows: list[Any]) -> npt.NDArray[np.float64]:
        """The finite vectors of a field's expected length, one per row."""
        dim = self._dims.setdefault(path, len(rows[0]))
        fitting = [row for row in rows if len(row) == dim] if dim <= MAX_VECTOR_DIM else []
        if len(fitting) < len(rows):
            self.skipped["vector_length"] += len(rows) - len(fitting)
        try:
            matrix = np.asarray(fitting, dtype=np.float64).reshape(len(fitting), dim)
        except (ValueError, TypeError, OverflowError):  # some row holds a non-number
            matrix = self._rows(fitting, dim)
        finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            self.skipped["non_finite"] += int(matrix.shape[0] - np.count_nonzero(finite))
            return matrix[finite]
        return matrix

    def _rows(self, rows: list[Any], dim: int) -> npt.NDArray[np.float64]:
        good: list[npt.NDArray[np.float64]] = []
        for row in rows:
            try:
                good.append(np.asarray(row, dtype=np.float64).reshape(dim))
            except (ValueError, TypeError, OverflowError):
                self.skipped["type_mismatch"] += 1
        return np.stack(good) if good else np.empty((0, dim))


def _put(
    values: dict[str, list[Any]],
    batch: FeatureBatch,
    feature: str,
    kind: FieldKind,
    new: list[Any],
) -> None:
    found = values.get(feature)
    if found is None:
        values[feature] = list(new)
        batch.kinds[feature] = kind
    else:
        found.extend(new)


def _put_one(
    values: dict[str, list[Any]], batch: FeatureBatch, feature: str, kind: FieldKind, new: Any
) -> None:
    found = values.get(feature)
    if found is None:
        values[feature] = [new]
        batch.kinds[feature] = kind
    else:
        found.append(new)


def field_of(feature: str, kind: FieldKind) -> str:
    """The path of the field a feature comes from (``output.text.length``: ``output.text``)."""
    for suffix in DERIVED_SUFFIXES.get(kind, ()):
        if feature.endswith(suffix):
            return feature[: -len(suffix)]
    return feature


def _words(text: str) -> int:
    return len(text[:TEXT_SCAN_CHARS].split())
