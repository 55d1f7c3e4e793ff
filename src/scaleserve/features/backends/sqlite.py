"""Feature values in one SQLite file: the embedded default.

One keyed table for every tenant and view, a row per (tenant, view, entity, feature) with
its own event time, rather than a table per view: views are declared in code and change
(a feature added, a type changed) without any migration, no table name is ever built from a
name, and the tenant leads the primary key, so every statement is confined to one tenant by
the index it uses. A read is one ``SELECT`` whatever the number of entities (the ids travel
as one JSON parameter). Values are msgpack (``scaleserve.features.codec``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from scaleserve.features import codec
from scaleserve.features.store import (
    EntityFeatures,
    EntityRow,
    StoredValue,
    assemble,
    check_entity_ids,
    check_tenant,
    checked_rows,
)
from scaleserve.features.views import FeatureView
from scaleserve.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_values (
    tenant TEXT NOT NULL,
    view TEXT NOT NULL,
    entity TEXT NOT NULL,
    feature TEXT NOT NULL,
    event_ts REAL NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (tenant, view, entity, feature)
) WITHOUT ROWID;
"""

# A stored value is replaced only by one whose event time is not older.
_UPSERT = (
    "INSERT INTO feature_values (tenant, view, entity, feature, event_ts, value)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, view, entity, feature) DO UPDATE SET"
    " event_ts = excluded.event_ts, value = excluded.value"
    " WHERE excluded.event_ts >= feature_values.event_ts"
)
_READ = (
    "SELECT entity, feature, event_ts, value FROM feature_values"
    " WHERE tenant = ? AND view = ? AND entity IN (SELECT value FROM json_each(?))"
    " AND feature IN (SELECT value FROM json_each(?))"
)


class SqliteFeatureStore:
    """See ``scaleserve.features.store.FeatureStore``. ``":memory:"`` keeps nothing."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
        self._file = SqliteFile(
            path, SCHEMA, what="the feature store", busy_timeout_ms=busy_timeout_ms, private=True
        )

    async def open(self) -> None:
        await self._file.open()

    async def close(self) -> None:
        await self._file.close()

    async def write_many(
        self, tenant: str, view: FeatureView, rows: Mapping[str, EntityRow]
    ) -> None:
        check_tenant(tenant)
        params = [
            (tenant, view.name, entity_id, feature, row.event_ts, codec.encode(value))
            for entity_id, row in checked_rows(view, rows).items()
            for feature, value in row.values.items()
        ]
        if params:
            async with self._file.transaction() as db:
                await db.executemany(_UPSERT, params)

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        check_tenant(tenant)
        ids = check_entity_ids(entity_ids)
        stored: dict[str, dict[str, StoredValue]] = {entity_id: {} for entity_id in ids}
        if ids:
            params = (tenant, view.name, _json(ids), _json(list(view.kinds)))
            async with self._file.conn().execute(_READ, params) as cursor:
                async for entity, feature, event_ts, value in cursor:
                    stored[entity][feature] = (event_ts, codec.decode(value))
        return {entity_id: assemble(view, values, now) for entity_id, values in stored.items()}


def _json(names: list[str]) -> str:
    # text, not bytes: SQLite reads a BLOB given to json_each as its binary JSONB
    return orjson.dumps(names).decode()
