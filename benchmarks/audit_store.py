"""Audit store write throughput: rows/s through ``write_many`` in batches of 500.

    python benchmarks/audit_store.py [--rows 100000] [--pg postgresql://127.0.0.1:5432/test]

PostgreSQL (binary COPY, one transaction per batch, into today's daily partition) and
SQLite (one executemany transaction per batch, WAL, synchronous=FULL). Each record carries
a ~60-byte input and output, as an embedding or classifier request might.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from scaleserve.audit.backends.postgres import PostgresAuditStore
from scaleserve.audit.backends.sqlite import SqliteAuditStore
from scaleserve.audit.records import AuditRecord
from scaleserve.audit.store import AuditStore

BATCH = 500


def records(count: int) -> list[AuditRecord]:
    now = time.time()
    return [
        AuditRecord(
            ts=now + n * 1e-4,
            tenant="acme",
            model="echo",
            version="3",
            route="predict",
            request_id=uuid.uuid4().hex,
            trace_id=uuid.uuid4().hex,
            latency_ms=2.5,
            status=200,
            cache="miss",
            input='{"text": "the quick brown fox jumps over the lazy dog", "n": 1}',
            output='{"label": "positive", "score": 0.9731, "tokens": 12}',
        )
        for n in range(count)
    ]


async def rows_per_s(store: AuditStore, rows: list[AuditRecord]) -> float:
    await store.prepare(datetime.datetime.now(datetime.UTC).date(), 2)
    started = time.perf_counter()
    for at in range(0, len(rows), BATCH):
        await store.write_many(rows[at : at + BATCH])
    return len(rows) / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/test")
    args = parser.parse_args()
    rows = records(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        sqlite = SqliteAuditStore(Path(folder) / "audit.sqlite3")
        await sqlite.open()
        print(f"sqlite:     {await rows_per_s(sqlite, rows):>10,.0f} rows/s")
        await sqlite.close()
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    pg = PostgresAuditStore(args.pg, schema)
    await pg.open()
    try:
        print(f"postgresql: {await rows_per_s(pg, rows):>10,.0f} rows/s")
    finally:
        await pg.close()
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    asyncio.run(main())
