"""A registry on SQLite and a local blob folder, fresh per test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from scaleserve.registry.backends.local_blobs import LocalBlobStore
from scaleserve.registry.backends.sqlite import SqliteRegistryStore
from scaleserve.registry.registry import Registry

FIXTURES = Path(__file__).parents[1] / "fixtures"
SCALER = f"{FIXTURES}/registry_app.py:Scaler"


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    store = SqliteRegistryStore(tmp_path / "registry.sqlite3")
    await store.open()
    yield Registry(store, LocalBlobStore(tmp_path / "blobs"))
    await store.close()


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """An artifact folder: the config a ``Scaler`` version loads."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text('{"factor": 2}')
    return folder


PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = f"postgresql://{PG_HOST}:{PG_PORT}/test"


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
    """A fresh schema name; the schema is dropped afterwards."""
    schema = f"sstest_{uuid.uuid4().hex[:12]}"
    yield schema
    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(drop)
