"""Vector collections in PostgreSQL with the pgvector extension.

A catalog table names each tenant's collections; each collection is a table of its own
(``id text``, ``embedding vector(d)``, ``payload jsonb``) with an HNSW index for its metric
and a GIN index on the payload. Queries plan as the embedded store does: the filter's
passing rows are counted, and few are searched exactly (the HNSW index turned off for
that statement) while many go through the index with ``hnsw.ef_search`` widened by the
share that passes. Several gateways share one database.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from scaleserve.errors import ConfigError, Conflict, InvalidInput, TooManyItems, UnknownCollection
from scaleserve.vectors import exact, filters
from scaleserve.vectors.backends.pg_filters import condition
from scaleserve.vectors.payload_types import FieldType, merged_types
from scaleserve.vectors.records import (
    EXACT_LIMIT,
    MAX_K,
    MAX_POINTS_PER_CALL,
    NAME_RULE,
    CollectionInfo,
    CollectionSpec,
    Hit,
    Metric,
    Point,
)
from scaleserve.vectors.store import Query

CATALOG = "scaleserve_vector_collections"
MAX_EF_SEARCH = 1000  # pgvector's own limit
_CATALOG_ROW = (
    "SELECT dimension, metric, model, fields, table_name FROM scaleserve_vector_collections "
    "WHERE tenant = %s AND name = %s"
)
_CATALOG_ROW_FOR_UPDATE = _CATALOG_ROW + " FOR UPDATE"
_OPS = {Metric.COSINE: "vector_cosine_ops", Metric.DOT: "vector_ip_ops", Metric.L2: "vector_l2_ops"}
_DISTANCE = {Metric.COSINE: "<=>", Metric.DOT: "<#>", Metric.L2: "<->"}

_CATALOG_SQL = f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS {CATALOG} (
    tenant text NOT NULL,
    name text NOT NULL,
    dimension integer NOT NULL,
    metric text NOT NULL,
    model text,
    fields jsonb NOT NULL DEFAULT '{{}}',
    table_name text NOT NULL UNIQUE,
    PRIMARY KEY (tenant, name)
);
"""


class PgVectorStore:
    def __init__(
        self, url: str, *, exact_limit: int = EXACT_LIMIT, max_connections: int = 8
    ) -> None:
        self._url = url
        self._exact_limit = exact_limit
        self._pool = AsyncConnectionPool(
            url, min_size=1, max_size=max_connections, open=False, configure=_configure
        )

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=10)
            async with self._pool.connection() as conn:
                await conn.execute(_CATALOG_SQL)
        except (psycopg.Error, PoolTimeout) as exc:
            raise ConfigError(f"vector store at PostgreSQL: {exc}") from None

    async def close(self) -> None:
        await self._pool.close()

    async def create(self, tenant: str, spec: CollectionSpec) -> None:
        table = _table_name(tenant, spec.name)
        ops = _OPS[spec.metric]
        async with self._pool.connection() as conn, conn.transaction():
            try:
                await conn.execute(
                    "INSERT INTO scaleserve_vector_collections "
                    "(tenant, name, dimension, metric, model, table_name) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (tenant, spec.name, spec.dimension, spec.metric.value, spec.model, table),
                )
            except psycopg.errors.UniqueViolation:
                raise Conflict(f"a collection named {spec.name!r} exists already") from None
            ident = sql.Identifier(table)
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE {t} (id text PRIMARY KEY, embedding vector({d}) NOT NULL, "
                    "payload jsonb NOT NULL DEFAULT '{{}}');"
                    "CREATE INDEX ON {t} USING hnsw (embedding {ops});"
                    "CREATE INDEX ON {t} USING gin (payload jsonb_path_ops);"
                ).format(t=ident, d=sql.Literal(spec.dimension), ops=sql.SQL(ops))
            )

    async def drop(self, tenant: str, name: str) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            row = await _catalog_row(conn, tenant, name, lock=True)
            await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(row["table"])))
            await conn.execute(
                "DELETE FROM scaleserve_vector_collections WHERE tenant = %s AND name = %s",
                (tenant, name),
            )

    async def collections(self, tenant: str) -> list[CollectionInfo]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT name FROM scaleserve_vector_collections WHERE tenant = %s ORDER BY name",
                (tenant,),
            )
            names = [name for (name,) in await cursor.fetchall()]
        return [await self.info(tenant, name) for name in names]

    async def info(self, tenant: str, name: str) -> CollectionInfo:
        async with self._pool.connection() as conn:
            row = await _catalog_row(conn, tenant, name)
            count = await _scalar(conn, _count_all(row["table"]))
        return CollectionInfo(row["spec"], count, {k: v.value for k, v in row["fields"].items()})

    async def upsert(self, tenant: str, name: str, points: Sequence[Point]) -> None:
        _bounded(len(points), "points")
        async with self._pool.connection() as conn, conn.transaction():
            row = await _catalog_row(conn, tenant, name, lock=True)
            spec: CollectionSpec = row["spec"]
            _check_dimensions(spec, points)
            fields = merged_types(row["fields"], [p.payload for p in points])
            latest = list({p.id: p for p in points}.values())
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {} (id, embedding, payload) VALUES (%s, %s, %s) "
                        "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
                        "payload = EXCLUDED.payload"
                    ).format(sql.Identifier(row["table"])),
                    [(p.id, _stored(spec, p.vector), orjson.dumps(p.payload).decode())
                     for p in latest],
                )  # fmt: skip
            if fields != row["fields"]:
                await conn.execute(
                    "UPDATE scaleserve_vector_collections SET fields = %s "
                    "WHERE tenant = %s AND name = %s",
                    (orjson.dumps({k: v.value for k, v in fields.items()}).decode(), tenant, name),
                )

    async def delete(self, tenant: str, name: str, ids: Sequence[str]) -> int:
        _bounded(len(ids), "ids")
        async with self._pool.connection() as conn, conn.transaction():
            row = await _catalog_row(conn, tenant, name)
            cursor = await conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(sql.Identifier(row["table"])),
                (list(ids),),
            )
            return cursor.rowcount

    async def get(
        self, tenant: str, name: str, ids: Sequence[str], *, with_vector: bool = True
    ) -> list[Point]:
        _bounded(len(ids), "ids")
        async with self._pool.connection() as conn:
            row = await _catalog_row(conn, tenant, name)
            cursor = await conn.execute(
                sql.SQL("SELECT id, embedding, payload FROM {} WHERE id = ANY(%s)").format(
                    sql.Identifier(row["table"])
                ),
                (list(ids),),
            )
            found = {i: (v, p) for i, v, p in await cursor.fetchall()}
        return [
            Point(i, found[i][0].to_list() if with_vector else [], found[i][1])
            for i in ids
            if i in found
        ]

    async def query(self, tenant: str, name: str, query: Query) -> list[Hit]:
        k = min(query.k, MAX_K)
        async with self._pool.connection() as conn, conn.transaction():
            row = await _catalog_row(conn, tenant, name)
            spec: CollectionSpec = row["spec"]
            if len(query.vector) != spec.dimension:
                raise InvalidInput(
                    f"the query vector has {len(query.vector)} dimensions; collection "
                    f"{name!r} has {spec.dimension}",
                    [{"loc": ["body", "vector"], "msg": "wrong dimension", "type": "value"}],
                )
            tree = filters.parse(query.filter, row["fields"])
            await self._plan(conn, row["table"], tree, k)
            distance = sql.SQL("embedding {} %(q)s").format(sql.SQL(_DISTANCE[spec.metric]))
            cursor = await conn.execute(
                sql.SQL(
                    "SELECT id, {d} AS distance, payload, embedding FROM {t} WHERE {w} "
                    "ORDER BY {d} LIMIT %(k)s"
                ).format(d=distance, t=sql.Identifier(row["table"]), w=condition(tree)),
                {"q": _stored(spec, query.vector), "k": k},
            )
            rows = await cursor.fetchall()
        return [
            Hit(
                i,
                _score(spec.metric, float(d)),
                p if query.with_payload else None,
                v.to_list() if query.with_vector else None,
            )
            for i, d, p, v in rows
        ]

    async def _plan(
        self, conn: psycopg.AsyncConnection[Any], table: str, tree: filters.Filter | None, k: int
    ) -> None:
        """Exact for few passing rows; else the HNSW index, searching wider when a filter
        passes only a share of the rows (settings local to the query's transaction). The
        rows are never counted in full: a table's size is PostgreSQL's estimate, and passing
        rows are counted up to one more than the exact plan takes."""
        estimate = await _scalar(conn, _estimate(table))
        if tree is None and estimate > 2 * self._exact_limit:
            return  # the index with its own ef_search
        bound = self._exact_limit + 1
        passing = await _scalar(conn, _bounded_count(table, tree, bound))
        if passing < bound:
            await conn.execute("SET LOCAL enable_indexscan = off")
            return
        share = 1.0 if tree is None else bound / max(bound, estimate)  # at least this share
        ef = min(MAX_EF_SEARCH, max(40, math.ceil(k / share * 1.5) + 8))
        await conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef)))

    async def count(self, tenant: str, name: str, filter: Any = None) -> int:
        async with self._pool.connection() as conn:
            row = await _catalog_row(conn, tenant, name)
            tree = filters.parse(filter, row["fields"])
            query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                sql.Identifier(row["table"]), condition(tree)
            )
            return await _scalar(conn, query)


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    await conn.commit()
    await register_vector_async(conn)


async def _catalog_row(
    conn: psycopg.AsyncConnection[Any], tenant: str, name: str, *, lock: bool = False
) -> dict[str, Any]:
    if not NAME_RULE.match(name):
        raise UnknownCollection(name)
    cursor = await conn.execute(
        _CATALOG_ROW_FOR_UPDATE if lock else _CATALOG_ROW,
        (tenant, name),
    )
    found = await cursor.fetchone()
    if found is None:
        raise UnknownCollection(name)
    dimension, metric, model, fields, table = found
    return {
        "spec": CollectionSpec(name, dimension, Metric(metric), model),
        "fields": {k: FieldType(v) for k, v in fields.items()},
        "table": table,
    }


async def _scalar(conn: psycopg.AsyncConnection[Any], query: sql.Composed) -> int:
    cursor = await conn.execute(query)
    found = await cursor.fetchone()
    return int(found[0]) if found else 0


def _estimate(table: str) -> sql.Composed:
    """PostgreSQL's estimate of the table's rows (-1 before it was first analysed)."""
    return sql.SQL("SELECT reltuples::bigint FROM pg_class WHERE oid = {}::regclass").format(
        sql.Literal(table)
    )


def _bounded_count(table: str, tree: filters.Filter | None, bound: int) -> sql.Composed:
    """How many rows pass ``tree``, counted up to ``bound``."""
    return sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {}) AS passing").format(
        sql.Identifier(table), condition(tree), sql.Literal(bound)
    )


def _count_all(table: str) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))


def _check_dimensions(spec: CollectionSpec, points: Sequence[Point]) -> None:
    for index, point in enumerate(points):
        if len(point.vector) != spec.dimension:
            raise InvalidInput(
                f"points[{index}].vector has {len(point.vector)} dimensions; "
                f"collection {spec.name!r} has {spec.dimension}",
                [{"loc": ["body", "points", index, "vector"], "msg": "wrong dimension",
                  "type": "value"}],
            )  # fmt: skip


def _stored(spec: CollectionSpec, vector: Sequence[float]) -> exact.Matrix:
    """The vector as kept: unit length for cosine, as the embedded store keeps it."""
    row: exact.Matrix = exact.prepared(np.asarray([vector], dtype=np.float32), spec.metric)[0]
    return row


def _score(metric: Metric, distance: float) -> float:
    """pgvector's distances as the embedded store's scores (higher is nearer)."""
    if metric is Metric.COSINE:
        return 1.0 - distance
    if metric is Metric.DOT:
        return -distance  # <#> is the negative inner product
    return -(distance**2)  # <-> is the Euclidean distance; scores are its negative square


def _table_name(tenant: str, name: str) -> str:
    digest = hashlib.sha256(f"{tenant}\0{name}".encode()).hexdigest()[:24]
    return f"scaleserve_vectors_{digest}"


def _bounded(count: int, what: str) -> None:
    if count > MAX_POINTS_PER_CALL:
        raise TooManyItems(what, MAX_POINTS_PER_CALL)
