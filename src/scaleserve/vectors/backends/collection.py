"""One embedded collection: the point log (SQLite), the HNSW graph (hnswlib), the vectors
and payload columns in memory, and the query planner that chooses between them.

Planning a filtered query: the payload columns say exactly how many points pass. When few
do (at most ``exact_limit``), they are searched exactly in numpy: perfect recall, and fast
because they are few. When many do, the graph is searched for more candidates than asked
(``k`` over the passing share, with margin) and widened until ``k`` pass, so a broad
filter costs little more than no filter. Not over-fetching alone: a selective filter is
where over-fetching loses recall, and there the plan is exact.

Methods are synchronous and not thread-safe: the store calls them in a worker thread,
one at a time per collection.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from scaleserve.errors import InvalidInput
from scaleserve.vectors import exact, filters
from scaleserve.vectors.backends.graph_index import GraphIndex
from scaleserve.vectors.backends.payload_columns import Mask, PayloadColumns
from scaleserve.vectors.backends.point_log import PointLog
from scaleserve.vectors.payload_types import FieldType, merged_types
from scaleserve.vectors.records import (
    EXACT_LIMIT,
    CollectionInfo,
    CollectionSpec,
    Hit,
    Metric,
    Point,
)

LOG_FILE = "points.sqlite3"
INDEX_FILE = "index.hnsw"
MIN_EF = 64
"""The graph search's least candidate list (recall@10 0.98 on the benchmark's data)."""
SNAPSHOT_EVERY = 20_000
"""Changes after which the index is saved again (opening replays at most this many)."""


class Collection:
    def __init__(
        self, folder: Path, spec: CollectionSpec, *, exact_limit: int = EXACT_LIMIT
    ) -> None:
        self.spec = spec
        self._folder = folder
        self._exact_limit = exact_limit
        self._log = PointLog(folder / LOG_FILE)
        self._fields: dict[str, FieldType] = {}
        self._slot_of: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._payloads: list[bytes | None] = []
        self._vectors = np.zeros((1024, spec.dimension), dtype=np.float32)
        self._columns = PayloadColumns()
        self._index = GraphIndex(spec.metric, spec.dimension)
        self._seq = 0
        self._since_snapshot = 0

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def create(cls, folder: Path, spec: CollectionSpec, exact_limit: int) -> Collection:
        folder.mkdir(parents=True)
        collection = cls(folder, spec, exact_limit=exact_limit)
        collection._log.set_meta("spec", _spec_json(spec))
        return collection

    @classmethod
    def open(cls, folder: Path, exact_limit: int) -> Collection:
        log = PointLog(folder / LOG_FILE)
        raw = log.meta("spec")
        log.close()
        spec = CollectionSpec(
            raw["name"], raw["dimension"], Metric(raw["metric"]), raw.get("model")
        )
        collection = cls(folder, spec, exact_limit=exact_limit)
        collection._load()
        return collection

    def close(self) -> None:
        if self._since_snapshot:
            self._snapshot()
        self._log.close()

    def _load(self) -> None:
        self._fields = {k: FieldType(v) for k, v in (self._log.meta("fields") or {}).items()}
        snapshot_seq = self._log.meta("snapshot_seq") or 0
        index_file = self._folder / INDEX_FILE
        if snapshot_seq and index_file.exists():
            self._index.load(str(index_file))
        else:
            snapshot_seq = 0
        for point_id, slot, vector, payload in self._log.rows():
            if vector is None:
                self._forget(point_id, slot)
            else:
                row = np.frombuffer(vector, dtype=np.float32)
                self._remember(point_id, slot, row, payload or b"{}")
        replay = list(self._log.rows(snapshot_seq))
        live = [(slot, v) for _, slot, v, _ in replay if v is not None]
        for _, slot, vector, _ in replay:
            if vector is None:
                self._index.remove(slot)
        self._index_add([slot for slot, _ in live])
        self._seq = self._log.last_seq()
        self._since_snapshot = len(replay)

    # -- writes ------------------------------------------------------------------------

    def upsert(self, points: Sequence[Point]) -> None:
        for index, point in enumerate(points):
            if len(point.vector) != self.spec.dimension:
                raise InvalidInput(
                    f"points[{index}].vector has {len(point.vector)} dimensions; "
                    f"collection {self.spec.name!r} has {self.spec.dimension}",
                    [{"loc": ["body", "points", index, "vector"], "msg": "wrong dimension",
                      "type": "value"}],
                )  # fmt: skip
        points = list({p.id: p for p in points}.values())  # the last of a repeated id wins
        fields = merged_types(self._fields, [p.payload for p in points])
        next_slot = len(self._ids)
        placed = []
        for point in points:
            slot = self._slot_of.get(point.id)
            if slot is None:
                slot, next_slot = next_slot, next_slot + 1
            placed.append((point, slot))
        self._seq += 1
        self._log.write(placed, {k: v.value for k, v in fields.items()}, self._seq)
        self._fields = fields
        for point, slot in placed:
            row = np.asarray(point.vector, dtype=np.float32)
            self._remember(point.id, slot, row, orjson.dumps(point.payload))
        self._index_add([slot for _, slot in placed])
        self._after_change(len(placed))

    def delete(self, ids: Sequence[str]) -> int:
        present = [i for i in dict.fromkeys(ids) if i in self._slot_of]
        if not present:
            return 0
        self._seq += 1
        self._log.tombstone(present, self._seq)
        for point_id in present:
            slot = self._slot_of[point_id]
            self._forget(point_id, slot)
            self._index.remove(slot)
        self._after_change(len(present))
        return len(present)

    def _remember(self, point_id: str, slot: int, row: np.ndarray, payload: bytes) -> None:
        while slot >= len(self._ids):
            self._ids.append(None)
            self._payloads.append(None)
        if slot >= len(self._vectors):
            size = max(slot + 1, 2 * len(self._vectors))
            grown = np.zeros((size, self.spec.dimension), dtype=np.float32)
            grown[: len(self._vectors)] = self._vectors
            self._vectors = grown
        self._vectors[slot] = exact.prepared(row[None, :], self.spec.metric)[0]
        self._ids[slot] = point_id
        self._payloads[slot] = payload
        self._slot_of[point_id] = slot
        self._columns.set(slot, orjson.loads(payload))

    def _forget(self, point_id: str, slot: int) -> None:
        self._slot_of.pop(point_id, None)
        if slot < len(self._ids):
            self._ids[slot] = None
            self._payloads[slot] = None
        self._columns.clear(slot)

    def _index_add(self, slots: Sequence[int]) -> None:
        if slots:
            self._index.upsert(slots, self._vectors[np.asarray(slots, dtype=np.intp)])

    def _after_change(self, changed: int) -> None:
        self._since_snapshot += changed
        if self._since_snapshot >= SNAPSHOT_EVERY:
            self._snapshot()

    def _snapshot(self) -> None:
        """Save the index atomically, then record which change it holds up to."""
        final = self._folder / INDEX_FILE
        temporary = final.with_suffix(".tmp")
        self._index.save(str(temporary))
        os.replace(temporary, final)
        self._log.set_meta("snapshot_seq", self._seq)
        self._since_snapshot = 0

    # -- reads -------------------------------------------------------------------------

    def info(self) -> CollectionInfo:
        fields = {k: v.value for k, v in self._fields.items()}
        return CollectionInfo(self.spec, len(self._slot_of), fields)

    def count(self, raw_filter: Any) -> int:
        tree = filters.parse(raw_filter, self._fields)
        return len(self._slot_of) if tree is None else int(self._columns.mask(tree).sum())

    def get(self, ids: Sequence[str], with_vector: bool) -> list[Point]:
        found = []
        for point_id in ids:
            slot = self._slot_of.get(point_id)
            if slot is not None:
                vector = self._vectors[slot].tolist() if with_vector else []
                found.append(Point(point_id, vector, orjson.loads(self._payloads[slot] or b"{}")))
        return found

    def query(
        self, vector: Sequence[float], k: int, raw_filter: Any, *, payload: bool, vector_out: bool
    ) -> list[Hit]:
        if len(vector) != self.spec.dimension:
            raise InvalidInput(
                f"the query vector has {len(vector)} dimensions; collection "
                f"{self.spec.name!r} has {self.spec.dimension}",
                [{"loc": ["body", "vector"], "msg": "wrong dimension", "type": "value"}],
            )
        tree = filters.parse(raw_filter, self._fields)
        query = exact.prepared(np.asarray([vector], dtype=np.float32), self.spec.metric)[0]
        mask = self._columns.mask(tree)
        passing = int(mask.sum())
        if passing == 0:
            return []
        if passing <= self._exact_limit:
            slots, scores = self._exact(query, mask, k)
        else:
            slots, scores = self._graph(query, k, None if tree is None else mask, passing)
        pairs = zip(slots, scores, strict=True)
        return [self._hit(int(s), float(v), payload, vector_out) for s, v in pairs]

    def _exact(self, query: np.ndarray, mask: Mask, k: int) -> tuple[np.ndarray, np.ndarray]:
        size = len(self._ids)
        mask = mask[:size]
        passing = int(mask.sum())
        if passing * 4 >= size:  # most pass: score all in place rather than copy them out
            values = exact.scores(self._vectors[:size], query, self.spec.metric)
            values[~mask] = -np.inf
            best = exact.top_k(values, min(k, passing))
            return best, values[best]
        slots = np.flatnonzero(mask)
        values = exact.scores(self._vectors[slots], query, self.spec.metric)
        best = exact.top_k(values, k)
        return slots[best], values[best]

    def _graph(
        self, query: np.ndarray, k: int, mask: Mask | None, passing: int
    ) -> tuple[np.ndarray, np.ndarray]:
        live = len(self._slot_of)
        want = min(
            live, math.ceil(k / (passing / max(1, live)) * 1.5) + 8 if mask is not None else k
        )
        while True:
            try:
                keys, distances = self._index.search(query, want, max(MIN_EF, want))
            except RuntimeError:  # the graph could not reach ``want`` points: search exactly
                return self._exact(query, mask if mask is not None else self._columns.live, k)
            scores = _scores(distances, self.spec.metric)
            if mask is not None:
                keep = mask[keys]
                keys, scores = keys[keep], scores[keep]
            if len(keys) >= k or want >= live:
                return keys[:k], scores[:k]
            want = min(live, want * 4)

    def _hit(self, slot: int, score: float, payload: bool, vector: bool) -> Hit:
        return Hit(
            self._ids[slot] or "",
            score,
            orjson.loads(self._payloads[slot] or b"{}") if payload else None,
            self._vectors[slot].tolist() if vector else None,
        )


def _scores(distances: npt.NDArray[Any], metric: Metric) -> np.ndarray:
    """The graph's distances as scores: ``ip`` gives 1 - dot, ``l2`` the squared distance."""
    if metric is Metric.L2:
        return -distances.astype(np.float32)
    return (1.0 - distances).astype(np.float32)


def _spec_json(spec: CollectionSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "dimension": spec.dimension,
        "metric": spec.metric.value,
        "model": spec.model,
    }
