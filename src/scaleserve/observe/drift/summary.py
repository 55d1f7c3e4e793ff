"""A bounded-memory summary of one window of items, mergeable and serialisable.

Numbers (and the numbers derived from texts and vectors) are KLL sketches, labels
frequent-items sketches, vectors a running mean. Its size does not grow with the items it
saw: a few KiB per feature plus two vectors per vector field.

Vector fields also carry an *anchor*: the centroid that ``<path>.centroid_distance`` is
measured against. A reference being captured fixes each anchor from the mean of the field's
first ``anchor_after`` vectors, so the distances it then records do not include the vectors
that made the anchor; recent windows are given the reference's anchors.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from scaleserve.errors import RequestError
from scaleserve.observe.drift.features import FeatureBatch
from scaleserve.observe.drift.sketches import LabelSketch, NumericSketch, SketchCorrupt
from scaleserve.observe.drift.types import FieldKind
from scaleserve.observe.drift.vectors import Matrix, RunningMean, cosine_distances, norms

FORMAT = "scaleserve.drift.summary/1"
MAX_FEATURES = 4096  # a stored summary with more is refused, whatever it says
MAX_DIM = 65_536


class InvalidSummary(RequestError):
    """Bytes given as a drift summary (a reference) that are not one."""


class WindowSummary:
    """Sketches of one window's features (see the module's docstring)."""

    def __init__(
        self, anchors: Mapping[str, Matrix] | None = None, anchor_after: int | None = None
    ) -> None:
        self.items = 0
        self.kinds: dict[str, FieldKind] = {}  # feature: the kind of the field it comes from
        self.numbers: dict[str, NumericSketch] = {}
        self.labels: dict[str, LabelSketch] = {}
        self.means: dict[str, RunningMean] = {}  # vector field: the mean of its vectors
        self.anchors: dict[str, Matrix] = dict(anchors or {})
        self._anchor_after = anchor_after

    def count(self, feature: str) -> int:
        """How many values of ``feature`` the window holds."""
        sketch = self.numbers.get(feature) or self.labels.get(feature)
        return 0 if sketch is None else sketch.count

    def add(self, batch: FeatureBatch) -> None:
        self.items += batch.items
        for feature, values in batch.numbers.items():
            self._numeric(feature, batch.kinds[feature]).add(values)
        for feature, labels in batch.labels.items():
            self._label(feature).add(labels)
        for path, vectors in batch.vectors.items():
            self._add_vectors(path, vectors)

    def _numeric(self, feature: str, kind: FieldKind) -> NumericSketch:
        sketch = self.numbers.get(feature)
        if sketch is None:
            sketch = self.numbers[feature] = NumericSketch()
            self.kinds[feature] = kind
        return sketch

    def _label(self, feature: str) -> LabelSketch:
        sketch = self.labels.get(feature)
        if sketch is None:
            sketch = self.labels[feature] = LabelSketch()
            self.kinds[feature] = FieldKind.LABEL
        return sketch

    def _add_vectors(self, path: str, vectors: Matrix) -> None:
        mean = self.means.setdefault(path, RunningMean(vectors.shape[1]))
        if mean.dim != vectors.shape[1]:  # a reference set with vectors of another length
            return
        self._numeric(f"{path}.norm", FieldKind.VECTOR).add_array(norms(vectors))
        anchor = self.anchors.get(path)
        if anchor is not None and anchor.shape == mean.mean.shape:
            distances = cosine_distances(vectors, anchor)
            self._numeric(f"{path}.centroid_distance", FieldKind.VECTOR).add_array(distances)
        mean.add(vectors)
        if anchor is None and self._anchor_after and mean.count >= self._anchor_after:
            self.anchors[path] = mean.mean.copy()

    def merged(self, other: WindowSummary) -> WindowSummary:
        """A new summary of both windows (this one's anchors)."""
        result = WindowSummary(self.anchors)
        result.items = self.items + other.items
        for source in (self, other):
            result.kinds.update(source.kinds)
            for feature, numeric in source.numbers.items():
                _merge_into(result.numbers, feature, numeric)
            for feature, labels in source.labels.items():
                _merge_into(result.labels, feature, labels)
            for path, mean in source.means.items():
                if path not in result.means:
                    result.means[path] = mean.copy()
                elif result.means[path].dim == mean.dim:
                    result.means[path].combine(mean)
        return result

    def to_bytes(self) -> bytes:
        """JSON (sketches in base64): what ``from_bytes`` reads, to store or send a reference."""
        sketches: list[tuple[str, NumericSketch | LabelSketch]] = [
            *self.numbers.items(),
            *self.labels.items(),
        ]
        features = [
            {"name": name, "kind": self.kinds[name], "sketch": _b64(sketch.to_bytes())}
            for name, sketch in sketches
        ]
        vectors = [
            {
                "path": path,
                "count": mean.count,
                "mean": _b64(mean.mean.astype("<f8").tobytes()),
                "square_norm": mean.square_norm,
                "anchor": _b64(self.anchors[path].astype("<f8").tobytes())
                if path in self.anchors
                else None,
            }
            for path, mean in self.means.items()
        ]
        body = {"format": FORMAT, "items": self.items, "features": features, "vectors": vectors}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> WindowSummary:
        """Read ``to_bytes``'s output; anything else raises ``InvalidSummary``."""
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or body.get("format") != FORMAT:
                raise InvalidSummary(f"not a drift summary (format {FORMAT!r} expected)")
            summary = cls()
            summary.items = _count(body["items"])
            _read_features(summary, _listed(body["features"]))
            _read_vectors(summary, _listed(body["vectors"]))
        except (ValueError, TypeError, KeyError, SketchCorrupt, binascii.Error) as error:
            if isinstance(error, InvalidSummary):
                raise
            raise InvalidSummary(f"not a drift summary: {error}") from error
        return summary


def _merge_into(target: dict[str, Any], feature: str, sketch: NumericSketch | LabelSketch) -> None:
    if feature in target:
        target[feature].merge(sketch)
    else:
        target[feature] = sketch.copy()


def _read_features(summary: WindowSummary, features: list[Any]) -> None:
    for entry in features:
        name, kind = str(entry["name"]), FieldKind(entry["kind"])
        sketch = _unb64(entry["sketch"])
        if kind is FieldKind.LABEL:
            summary.labels[name] = LabelSketch.from_bytes(sketch)
        elif kind is not FieldKind.IGNORE:
            summary.numbers[name] = NumericSketch.from_bytes(sketch)
        summary.kinds[name] = kind


def _read_vectors(summary: WindowSummary, vectors: list[Any]) -> None:
    for entry in vectors:
        path = str(entry["path"])
        mean, square_norm = _vector(entry["mean"]), entry["square_norm"]
        if not isinstance(square_norm, int | float) or not 0 <= square_norm < math.inf:
            raise InvalidSummary(f"the square_norm of {path!r} is not a finite number")
        summary.means[path] = RunningMean(len(mean), _count(entry["count"]), mean, square_norm)
        if entry["anchor"] is not None:
            summary.anchors[path] = _vector(entry["anchor"])
            if summary.anchors[path].shape != mean.shape:
                raise InvalidSummary(f"the anchor of {path!r} and its mean differ in length")


def _listed(value: Any) -> list[Any]:
    if not isinstance(value, list) or len(value) > MAX_FEATURES:
        raise InvalidSummary(f"a drift summary lists at most {MAX_FEATURES} features")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidSummary(f"a count must be a natural number, not {value!r}")
    return value


def _vector(text: Any) -> Matrix:
    raw = _unb64(text)
    if not 0 < len(raw) <= 8 * MAX_DIM or len(raw) % 8:
        raise InvalidSummary("a vector must hold 1 to 65,536 doubles")
    vector = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    if not np.isfinite(vector).all():
        raise InvalidSummary("a vector holds a NaN or an infinity")
    return vector


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise InvalidSummary("a sketch or vector must be a base64 string")
    return base64.b64decode(text, validate=True)
