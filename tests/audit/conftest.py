"""Audit stores over SQLite and the real PostgreSQL (one fresh schema per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scaleserve.audit.backends.postgres import PostgresAuditStore
from scaleserve.audit.backends.sqlite import SqliteAuditStore
from scaleserve.audit.records import AuditRecord
from scaleserve.audit.store import AuditStore


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
