"""The audit log in PostgreSQL, partitioned by day: the distributed backend.

``{schema}.audit`` is PARTITIONED BY RANGE (ts) (a ``timestamptz``) with one partition per
UTC day, ``audit_YYYYMMDD``, and a DEFAULT partition, so a write never fails for a day
nobody prepared. ``prepare`` creates days ahead; retention DROPs whole partitions (rows
strayed into the DEFAULT partition are deleted with them). Schema changes run under one
advisory lock, so gateways starting or preparing together do not race.

Writes are one COPY in one transaction. Connections come from a small pool, so the
writer's COPY and the admin surface's reads do not queue behind each other.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any, LiteralString

from psycopg import sql
from psycopg.rows import TupleRow

from scaleserve.audit.records import FIELDS, AuditRecord, day_start
from scaleserve.postgres_schema import LOCK, Connection, PooledSchema

PARTITION_PATTERN = re.compile(r"^audit_(\d{8})$")
APPLICATION_NAME = "scaleserve-audit"

_SETUP: LiteralString = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.audit (
    ts timestamptz NOT NULL,
    tenant text COLLATE "C" NOT NULL,
    model text COLLATE "C" NOT NULL,
    version text NOT NULL,
    route text NOT NULL,
    request_id text COLLATE "C" NOT NULL,
    trace_id text NOT NULL,
    latency_ms double precision NOT NULL,
    status integer NOT NULL,
    cache text NOT NULL,
    input text,
    output text
) PARTITION BY RANGE (ts);
CREATE INDEX IF NOT EXISTS audit_model_ts ON {schema}.audit (model, ts, request_id);
CREATE TABLE IF NOT EXISTS {schema}.audit_default PARTITION OF {schema}.audit DEFAULT;
"""
_COPY: LiteralString = (
    "COPY {schema}.audit (ts, tenant, model, version, route, request_id, trace_id,"
    " latency_ms, status, cache, input, output) FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = (
    "timestamptz", "text", "text", "text", "text", "text", "text",
    "float8", "int4", "text", "text", "text",
)  # fmt: skip
_SELECT: LiteralString = (
    "SELECT ts, tenant, model, version, route, request_id, trace_id, latency_ms, status,"
    " cache, input, output FROM {schema}.audit WHERE model = %s AND ts >= %s"
)
_PARTITIONS: LiteralString = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = %s::regclass"
)
_EXISTS: LiteralString = "SELECT to_regclass(%s) IS NOT NULL"
# A day's rows that strayed into the DEFAULT partition must leave it before the day's
# partition can exist (PostgreSQL refuses otherwise): moved out, then back in through it.
_MOVE_OUT: LiteralString = (
    "CREATE TEMP TABLE audit_moving ON COMMIT DROP AS WITH moved AS ("
    " DELETE FROM {schema}.audit_default WHERE ts >= {start} AND ts < {end} RETURNING *)"
    " SELECT * FROM moved"
)
_CREATE_DAY: LiteralString = (
    "CREATE TABLE IF NOT EXISTS {schema}.{name} PARTITION OF {schema}.audit"
    " FOR VALUES FROM ({start}) TO ({end})"
)
_MOVE_BACK: LiteralString = "INSERT INTO {schema}.audit SELECT * FROM audit_moving"
_DROP_DAY: LiteralString = "DROP TABLE IF EXISTS {schema}.{name}"
_DROP_STRAYS: LiteralString = "DELETE FROM {schema}.audit_default WHERE ts < %s"


def partition_name(day: datetime.date) -> str:
    return f"audit_{day:%Y%m%d}"


class PostgresAuditStore:
    """See ``scaleserve.audit.store.AuditStore``; every gateway shares ``schema``."""

    def __init__(self, url: str, schema: str = "scaleserve") -> None:
        self._db = PooledSchema(url, schema, owner="audit store", application_name=APPLICATION_NAME)

    async def open(self) -> None:
        """Connect and create the table; ``ConfigError`` (naming the host, never the
        password) when the database cannot be reached or the table cannot be made."""
        await self._db.open(_SETUP)

    async def close(self) -> None:
        await self._db.close()

    async def write_many(self, records: Sequence[AuditRecord]) -> None:
        """One binary COPY in one transaction (rows go to their day's partition)."""
        if not records:
            return
        async with (
            self._db.connection() as conn,
            conn.transaction(),
            conn.cursor() as cursor,
            cursor.copy(self._db.sql(_COPY)) as copy,
        ):
            copy.set_types(list(_COPY_TYPES))
            for record in records:
                await copy.write_row(_row(record))

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
        parts, args = _where(model, since, until, tenant, after)
        parts.append(sql.SQL("ORDER BY ts, request_id LIMIT %s"))
        args.append(max(limit, 0))
        query = sql.SQL(" ").join([self._db.sql(_SELECT), *parts])
        async with self._db.connection() as conn:
            cursor = await conn.execute(query, args)
            rows = await cursor.fetchall()
        return [_record(row) for row in rows]

    async def drop_before(self, day: datetime.date) -> int:
        """DROP the partitions of the days before ``day``; returns how many."""
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(LOCK, (self._db.lock_key,))
            old = [name for name in await self._partitions(conn) if _day_of(name) < day]
            for name in old:
                await conn.execute(self._db.sql(_DROP_DAY, name=sql.Identifier(name)))
            await conn.execute(self._db.sql(_DROP_STRAYS), (day_start(day),))
        return len(old)

    async def prepare(self, today: datetime.date, days_ahead: int) -> None:
        """Create the partitions of ``today`` and the ``days_ahead`` days after it (those
        missing), moving any of their rows out of the DEFAULT partition."""
        days = [today + datetime.timedelta(days=n) for n in range(max(days_ahead, 0) + 1)]
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(LOCK, (self._db.lock_key,))
            existing = set(await self._partitions(conn))
            for day in days:
                if partition_name(day) not in existing:
                    await self._create_day(conn, day)

    async def partitions(self) -> list[str]:
        """The names of the table's partitions, sorted (the DEFAULT one included)."""
        async with self._db.connection() as conn:
            return sorted(await self._partitions(conn))

    async def _create_day(self, conn: Connection, day: datetime.date) -> None:
        start = day_start(day)
        bounds = {
            "start": sql.Literal(start.isoformat()),
            "end": sql.Literal((start + datetime.timedelta(days=1)).isoformat()),
            "name": sql.Identifier(partition_name(day)),
        }
        await conn.execute(self._db.sql(_MOVE_OUT, **bounds))
        await conn.execute(self._db.sql(_CREATE_DAY, **bounds))
        await conn.execute(self._db.sql(_MOVE_BACK))
        await conn.execute("DROP TABLE audit_moving")

    async def _partitions(self, conn: Connection) -> list[str]:
        cursor = await conn.execute(_PARTITIONS, (f"{self._db.schema}.audit",))
        return [str(row[0]) for row in await cursor.fetchall()]


def _where(
    model: str,
    since: float,
    until: float | None,
    tenant: str | None,
    after: tuple[float, str] | None,
) -> tuple[list[sql.Composable], list[Any]]:
    parts: list[sql.Composable] = []
    args: list[Any] = [model, _time(since)]
    if until is not None:
        parts.append(sql.SQL("AND ts < %s"))
        args.append(_time(until))
    if tenant is not None:
        parts.append(sql.SQL("AND tenant = %s"))
        args.append(tenant)
    if after is not None:
        # ts >= first, so the (model, ts) index bounds the scan; the rest breaks ties.
        parts.append(sql.SQL("AND ts >= %s AND (ts > %s OR request_id > %s)"))
        args += [_time(after[0]), _time(after[0]), after[1]]
    return parts, args


def _time(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)


def _row(record: AuditRecord) -> tuple[Any, ...]:
    values = [getattr(record, name) for name in FIELDS]
    values[0] = _time(record.ts)
    return tuple(values)


def _record(row: TupleRow) -> AuditRecord:
    ts, *rest = row
    return AuditRecord(ts.timestamp(), *rest)


def _day_of(name: str) -> datetime.date:
    """The day a partition keeps; the DEFAULT partition's is the latest possible."""
    match = PARTITION_PATTERN.fullmatch(name)
    if match is None:
        return datetime.date.max
    return datetime.datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=datetime.UTC).date()
