"""The audit log in a SQLite file: the embedded default (WAL, ``synchronous=FULL``).

``ts`` is kept as REAL unix seconds, rounded to the microsecond as PostgreSQL keeps it, so
a cursor taken from one backend's records means the same on the other. Retention deletes
the rows of the days before a day.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from scaleserve.audit.records import FIELDS, AuditRecord, day_start
from scaleserve.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    ts REAL NOT NULL,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    route TEXT NOT NULL,
    request_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    status INTEGER NOT NULL,
    cache TEXT NOT NULL,
    input TEXT,
    output TEXT
);
CREATE INDEX IF NOT EXISTS audit_model_ts ON audit (model, ts, request_id);
"""

# One statement for a whole batch (its rows as one JSON array): executemany would give the
# GIL back and wait for it again around every row, which under a busy event loop costs up to
# a switch interval (5 ms) per row (measured: a third of the records dropped at 6k req/s).
_INSERT = """
INSERT INTO audit (ts, tenant, model, version, route, request_id, trace_id, latency_ms, status,
                   cache, input, output)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,
       value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11
FROM json_each(?)
"""
_QUERY = """
SELECT ts, tenant, model, version, route, request_id, trace_id, latency_ms, status, cache,
       input, output
FROM audit
WHERE model = ? AND ts >= ? AND ts < ? AND (? IS NULL OR tenant = ?)
  AND (ts > ? OR (ts = ? AND request_id > ?))
ORDER BY ts, request_id
LIMIT ?
"""
_DROP = "DELETE FROM audit WHERE ts < ?"
_NO_CURSOR = (-math.inf, "")


class SqliteAuditStore:
    """See ``scaleserve.audit.store.AuditStore``. ``path=":memory:"`` keeps nothing on disk."""

    def __init__(self, path: str | Path) -> None:
        self._file = SqliteFile(path, SCHEMA, what="the audit store")

    async def open(self) -> None:
        await self._file.open()

    async def close(self) -> None:
        await self._file.close()

    async def write_many(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        async with self._file.transaction() as db:
            await db.execute(_INSERT, (orjson.dumps([_row(record) for record in records]),))

    async def query(
        self,
        *,
        model: str,
        since: float,
        until: float | None = None,
        tenant: str | None = None,
        limit: int = 1000,
        after: tuple[float, str] | None = None,
    ) -> list[AuditRecord]:
        after_ts, after_id = after or _NO_CURSOR
        end = math.inf if until is None else until
        args = (model, since, end, tenant, tenant, after_ts, after_ts, after_id, max(limit, 0))
        async with self._file.conn().execute(_QUERY, args) as cursor:
            rows = await cursor.fetchall()
        return [_record(row) for row in rows]

    async def drop_before(self, day: datetime.date) -> int:
        """Delete the rows of the days before ``day``; returns how many rows."""
        async with self._file.transaction() as db:
            cursor = await db.execute(_DROP, (day_start(day).timestamp(),))
            return cursor.rowcount

    async def prepare(self, today: datetime.date, days_ahead: int) -> None:
        """Nothing to prepare: one table keeps every day."""


def _row(record: AuditRecord) -> tuple[Any, ...]:
    values = [getattr(record, name) for name in FIELDS]
    values[0] = round(record.ts, 6)
    return tuple(values)


def _record(row: Any) -> AuditRecord:
    return AuditRecord(*row)
