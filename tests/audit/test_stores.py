"""Every audit store keeps, finds, pages and retires records alike (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime

import psycopg
from psycopg import sql

from scaleserve.audit.backends.postgres import PostgresAuditStore
from scaleserve.audit.records import day_start
from scaleserve.audit.store import AuditStore
from tests.audit.conftest import record

DAY = datetime.date(2026, 12, 5)
T0 = day_start(DAY).timestamp()


async def test_round_trip_keeps_every_field(store: AuditStore):
    kept = record(
        T0 + 12.345678, "r1", trace_id="abc", status=422, cache="hit-redis", output="sha256:00"
    )
    untraced = record(T0 + 13, "r2", input=None, output=None)
    await store.write_many([kept, untraced])
    assert await store.query(model="echo", since=T0) == [kept, untraced]


async def test_text_with_tabs_newlines_backslashes_and_nulls_round_trips(store: AuditStore):
    awkward = '{"text": "a\\tb\\nc \\\\ d \\"q\\" \u00e9\u4e2d"}' + "\t\n\r\\N\\"
    written = record(T0 + 1, "tab\there", tenant="t\\1", input=awkward, output=None)
    await store.write_many([written])
    assert await store.query(model="echo", since=T0) == [written]


async def test_query_orders_by_time_then_request_id(store: AuditStore):
    records = [record(T0 + 5, "b"), record(T0 + 1, "z"), record(T0 + 5, "a"), record(T0 + 3, "m")]
    await store.write_many(records)
    found = await store.query(model="echo", since=T0)
    assert [(r.ts - T0, r.request_id) for r in found] == [(1, "z"), (3, "m"), (5, "a"), (5, "b")]


async def test_query_filters_by_model_tenant_and_time(store: AuditStore):
    await store.write_many(
        [
            record(T0 + 1, "a"),
            record(T0 + 2, "b", tenant="other"),
            record(T0 + 3, "c", model="ranker"),
            record(T0 + 4, "d"),
            record(T0 + 10, "e"),
        ]
    )

    async def ids(**filters: object) -> list[str]:
        found = await store.query(model="echo", since=T0, **filters)  # type: ignore[arg-type]
        return [r.request_id for r in found]

    assert await ids() == ["a", "b", "d", "e"]
    assert await ids(tenant="acme") == ["a", "d", "e"]
    assert await ids(until=T0 + 10) == ["a", "b", "d"]  # until is exclusive
    assert [r.request_id for r in await store.query(model="echo", since=T0 + 4)] == ["d", "e"]
    assert [r.request_id for r in await store.query(model="ranker", since=T0)] == ["c"]
    assert await store.query(model="nobody", since=T0) == []


async def test_keyset_pages_cover_everything_once(store: AuditStore):
    # Ties on ts: the cursor must break them by request_id, not skip or repeat.
    records = [record(T0 + i // 3, f"r{i:03}") for i in range(25)]
    await store.write_many(records)
    seen = []
    after: tuple[float, str] | None = None
    while page := await store.query(model="echo", since=T0, limit=4, after=after):
        assert len(page) <= 4
        seen += page
        after = (page[-1].ts, page[-1].request_id)
    assert seen == records


async def test_empty_write_is_a_no_op(store: AuditStore):
    await store.write_many([])
    assert await store.query(model="echo", since=0) == []


async def test_retention_removes_the_days_before(store: AuditStore):
    await store.prepare(DAY, 3)
    days = [T0 + n * 86_400 for n in range(4)]
    await store.write_many([record(ts + 60, f"d{n}") for n, ts in enumerate(days)])
    removed = await store.drop_before(DAY + datetime.timedelta(days=2))
    assert removed == 2  # two partitions (PostgreSQL) or two rows (SQLite)
    found = await store.query(model="echo", since=0)
    assert [r.request_id for r in found] == ["d2", "d3"]
    assert await store.drop_before(DAY + datetime.timedelta(days=2)) == 0


async def test_a_day_never_prepared_still_lands(store: AuditStore):
    await store.prepare(DAY, 1)
    far = record(T0 + 40 * 86_400, "far")
    await store.write_many([far])
    assert await store.query(model="echo", since=T0) == [far]


# PostgreSQL's partitions


async def _children(url: str, schema: str) -> dict[str, int]:
    """Each partition of ``schema.audit`` (pg_inherits) with its row count."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s"
            " AND i.inhparent = (%s || '.audit')::regclass",
            (schema, schema),
        )
        names = [str(row[0]) for row in await cursor.fetchall()]
        counts = {}
        for name in names:
            count = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name)
            )
            counts[name] = int((await (await conn.execute(count)).fetchone())[0])  # type: ignore[index]
        return counts


async def test_prepare_creates_days_ahead_idempotently(
    pg_store: PostgresAuditStore, pg_url: str, pg_schema: str
):
    await pg_store.prepare(DAY, 3)
    await pg_store.prepare(DAY, 3)
    await pg_store.prepare(DAY + datetime.timedelta(days=1), 3)  # overlaps, adds one day
    expected = {"audit_default"} | {f"audit_202612{d:02}" for d in range(5, 10)}
    assert set(await _children(pg_url, pg_schema)) == expected


async def test_prepare_from_two_stores_at_once(pg_url: str, pg_schema: str):
    import asyncio

    stores = [PostgresAuditStore(pg_url, pg_schema) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        await asyncio.gather(*(s.prepare(DAY, 7) for s in stores))
    finally:
        for s in stores:
            await s.close()
    assert len(await _children(pg_url, pg_schema)) == 9


async def test_rows_go_to_their_days_partition(
    pg_store: PostgresAuditStore, pg_url: str, pg_schema: str
):
    await pg_store.prepare(DAY, 1)
    await pg_store.write_many(
        [record(T0 + 1, "a"), record(T0 + 86_399.999999, "b"), record(T0 + 86_400, "c")]
    )
    counts = await _children(pg_url, pg_schema)
    assert counts == {"audit_default": 0, "audit_20261205": 2, "audit_20261206": 1}


async def test_default_partition_keeps_strays_until_their_day_is_prepared(
    pg_store: PostgresAuditStore, pg_url: str, pg_schema: str
):
    await pg_store.prepare(DAY, 0)
    stray = record(T0 + 3 * 86_400 + 5, "stray")
    await pg_store.write_many([stray])
    assert (await _children(pg_url, pg_schema))["audit_default"] == 1
    await pg_store.prepare(DAY, 3)  # the day's partition takes the stray over
    counts = await _children(pg_url, pg_schema)
    assert counts["audit_default"] == 0 and counts["audit_20261208"] == 1
    assert await pg_store.query(model="echo", since=T0) == [stray]


async def test_retention_drops_partitions_not_rows(
    pg_store: PostgresAuditStore, pg_url: str, pg_schema: str
):
    await pg_store.prepare(DAY, 4)
    await pg_store.write_many([record(T0 - 86_400, "stray-old"), record(T0 + 3 * 86_400, "kept")])
    assert await pg_store.drop_before(DAY + datetime.timedelta(days=3)) == 3
    counts = await _children(pg_url, pg_schema)
    assert set(counts) == {"audit_default", "audit_20261208", "audit_20261209"}
    assert counts["audit_default"] == 0  # an old stray goes with its days
    assert [r.request_id for r in await pg_store.query(model="echo", since=0)] == ["kept"]


async def test_unreachable_database_is_a_config_error_without_the_password():
    import pytest

    from scaleserve.errors import ConfigError

    store = PostgresAuditStore("postgresql://u:s3cret@127.0.0.1:1/none")
    with pytest.raises(ConfigError) as caught:
        await store.open()
    assert "127.0.0.1:1/none" in str(caught.value)
    assert "s3cret" not in str(caught.value)
