"""The embedded collection's durable half: every point in one SQLite file.

The file is the truth; the HNSW index is derived from it. Each change gets a sequence
number, deletions stay as tombstones, and an index snapshot records the last sequence it
holds, so opening replays only what came after the snapshot. A change is committed
(WAL, ``synchronous=FULL``) before the upsert returns, so a kill -9 loses nothing
acknowledged. Used from one thread at a time (the collection's lock).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from scaleserve.vectors.records import Point

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY,
    slot INTEGER NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    vector BLOB,              -- float32, as given; NULL once deleted
    payload BLOB              -- JSON; NULL once deleted
);
CREATE INDEX IF NOT EXISTS points_seq ON points (seq);
"""

Row = tuple[str, int, bytes | None, bytes | None]
"""id, slot, vector bytes (None: deleted), payload JSON."""


class PointLog:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else orjson.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, orjson.dumps(value))
        )

    def last_seq(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM points").fetchone()[0])

    def next_slot(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(slot), -1) + 1 FROM points").fetchone()
        return int(row[0])

    def write(self, points: Sequence[tuple[Point, int]], fields: dict[str, str], seq: int) -> None:
        """``points`` at their slots, and the collection's field types, in one commit."""
        rows = [
            (p.id, slot, seq, np.asarray(p.vector, dtype=np.float32).tobytes(), _json(p))
            for p, slot in points
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO points (id, slot, seq, vector, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self.set_meta("fields", fields)

    def tombstone(self, ids: Sequence[str], seq: int) -> None:
        with self._transaction():
            self._db.executemany(
                "UPDATE points SET vector = NULL, payload = NULL, seq = ? WHERE id = ?",
                [(seq, i) for i in ids],
            )

    def rows(self, after_seq: int = 0) -> Iterator[Row]:
        """Every point changed after ``after_seq`` (deleted ones with ``None`` vectors)."""
        yield from self._db.execute(
            "SELECT id, slot, vector, payload FROM points WHERE seq > ? ORDER BY seq",
            (after_seq,),
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _json(point: Point) -> bytes:
    return orjson.dumps(point.payload)
