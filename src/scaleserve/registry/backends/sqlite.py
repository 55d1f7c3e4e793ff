"""Registry metadata in one SQLite file: the embedded default.

The CLI and a running service share the file (WAL, busy timeout: ``scaleserve.sqlite_file``);
a gateway notices a changed state within ``WATCH_INTERVAL_S`` by polling the revisions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from scaleserve.errors import Conflict, UnknownVersion
from scaleserve.registry import codec
from scaleserve.registry.records import Event, ModelState, ModelVersion
from scaleserve.registry.store import next_revision, numbered, poll_revisions, stale, stamped
from scaleserve.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    seq INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (model, version)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS versions_seq ON versions (model, seq);
CREATE TABLE IF NOT EXISTS states (
    model TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_model ON events (model, id);
"""


class SqliteRegistryStore:
    """See ``scaleserve.registry.store.RegistryStore``."""

    def __init__(self, path: str | Path) -> None:
        self._file = SqliteFile(path, SCHEMA, what="the registry store", private=True)

    async def open(self) -> None:
        await self._file.open()

    async def close(self) -> None:
        await self._file.close()

    async def add_version(self, version: ModelVersion) -> ModelVersion:
        async with self._file.transaction() as db:
            cursor = await db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM versions WHERE model = ?", (version.model,)
            )
            row = await cursor.fetchone()
            seq = int(row[0] if row else 0) + 1
            if not version.version:
                cursor = await db.execute(
                    "SELECT version FROM versions WHERE model = ?", (version.model,)
                )
                taken = {str(row[0]) for row in await cursor.fetchall()}
                version = numbered(version, seq, taken)
            try:
                await db.execute(
                    "INSERT INTO versions (model, version, seq, doc) VALUES (?, ?, ?, ?)",
                    (version.model, version.version, seq, codec.version_json(version).decode()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"model {version.model!r} has a version {version.version!r} already; "
                    "versions are immutable: register another"
                ) from None
        return version

    async def get_version(self, model: str, version: str) -> ModelVersion:
        cursor = await self._file.conn().execute(
            "SELECT doc FROM versions WHERE model = ? AND version = ?", (model, version)
        )
        row = await cursor.fetchone()
        if row is None:
            raise UnknownVersion(model, version)
        return codec.version_from_json(row[0])

    async def list_versions(self, model: str) -> list[ModelVersion]:
        cursor = await self._file.conn().execute(
            "SELECT doc FROM versions WHERE model = ? ORDER BY seq", (model,)
        )
        return [codec.version_from_json(row[0]) for row in await cursor.fetchall()]

    async def list_models(self) -> list[str]:
        cursor = await self._file.conn().execute(
            "SELECT DISTINCT model FROM versions ORDER BY model"
        )
        return [str(row[0]) for row in await cursor.fetchall()]

    async def state(self, model: str) -> ModelState:
        cursor = await self._file.conn().execute("SELECT doc FROM states WHERE model = ?", (model,))
        row = await cursor.fetchone()
        return ModelState(model) if row is None else codec.state_from_json(row[0])

    async def commit(self, state: ModelState, events: Sequence[Event] = ()) -> ModelState:
        new = next_revision(state)
        async with self._file.transaction() as db:
            cursor = await db.execute("SELECT revision FROM states WHERE model = ?", (state.model,))
            row = await cursor.fetchone()
            if (int(row[0]) if row else 0) != state.revision:
                raise stale(state)
            await db.execute(
                "INSERT INTO states (model, revision, doc) VALUES (?, ?, ?) ON CONFLICT (model)"
                " DO UPDATE SET revision = excluded.revision, doc = excluded.doc",
                (new.model, new.revision, codec.state_json(new).decode()),
            )
            await db.executemany(
                "INSERT INTO events (model, doc) VALUES (?, ?)",
                [(e.model, codec.event_json(stamped(e, new.revision)).decode()) for e in events],
            )
        return new

    async def history(self, model: str, limit: int = 200) -> list[Event]:
        cursor = await self._file.conn().execute(
            "SELECT doc FROM (SELECT id, doc FROM events WHERE model = ? ORDER BY id DESC"
            " LIMIT ?) ORDER BY id",
            (model, limit),
        )
        return [codec.event_from_json(row[0]) for row in await cursor.fetchall()]

    async def revisions(self) -> dict[str, int]:
        cursor = await self._file.conn().execute("SELECT model, revision FROM states")
        return {str(model): int(revision) for model, revision in await cursor.fetchall()}

    def watch(self) -> AsyncIterator[set[str]]:
        return poll_revisions(self)
