"""Audit stores over SQLite and the real PostgreSQL (one fresh schema per test)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from scaleserve.audit.backends.postgres import PostgresAuditStore
from scaleserve.audit.backends.sqlite import SqliteAuditStore
from scaleserve.audit.records import AuditRecord
from scaleserve.audit.store import AuditStore

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = f"postgresql://{PG_HOST}:{PG_PORT}/test"
SESSION = uuid.uuid4().hex[:8]


def _pg_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The real PostgreSQL on loopback; tests skip without it, except in CI where they run."""
    if not _pg_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} (CI must run it)")
        pytest.skip(
            f"PostgreSQL is not running on {PG_HOST}:{PG_PORT}: start PostgreSQL with "
            "`pg_ctlcluster 15 main start` (trust auth, a database `test`)"
        )
    return PG_URL


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A schema named for this session and test; dropped afterwards."""
    schema = f"sstest_audit_{SESSION}_{uuid.uuid4().hex[:8]}"
    yield schema
    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(drop)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditStore]:
    made: AuditStore
    if request.param == "sqlite":
        made = SqliteAuditStore(tmp_path / "audit.sqlite3")
    else:
        made = PostgresAuditStore(
            request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema")
        )
    await made.open()
    yield made
    await made.close()


@pytest.fixture
async def pg_store(pg_url: str, pg_schema: str) -> AsyncIterator[PostgresAuditStore]:
    made = PostgresAuditStore(pg_url, pg_schema)
    await made.open()
    yield made
    await made.close()


def record(ts: float, request_id: str, **fields: object) -> AuditRecord:
    """A record at ``ts`` with plain defaults for the rest."""
    values: dict[str, object] = {
        "tenant": "acme",
        "model": "echo",
        "version": "1",
        "route": "predict",
        "trace_id": "",
        "latency_ms": 1.5,
        "status": 200,
        "cache": "miss",
        "input": '{"text": "hi"}',
        "output": None,
    }
    values.update(fields)
    return AuditRecord(ts=ts, request_id=request_id, **values)  # type: ignore[arg-type]
