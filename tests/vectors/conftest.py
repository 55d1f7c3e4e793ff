"""Every vector store, fresh per test: embedded (a temporary folder) and PostgreSQL with
pgvector (the ``pgserver`` package runs a real PostgreSQL with the extension, once per
session, on a Unix socket; ``SCALESERVE_TEST_PGVECTOR_URL`` points at another)."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from scaleserve.vectors.backends.embedded import EmbeddedVectorStore
from scaleserve.vectors.backends.pgvector import PgVectorStore
from scaleserve.vectors.store import VectorStore

SMALL_EXACT_LIMIT = 50
"""The tests' stores search at most this many passing points exactly, so that a few
thousand points already go through the HNSW graph."""


@pytest.fixture(scope="session")
def pgvector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("SCALESERVE_TEST_PGVECTOR_URL")
    if url:
        yield url
        return
    with warnings.catch_warnings():  # platformdirs warns where XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    server: Any = pgserver.get_server(tmp_path_factory.mktemp("pgvector"), cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture(params=["embedded", "pgvector"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    if request.param == "embedded":
        opened: VectorStore = EmbeddedVectorStore(tmp_path, exact_limit=SMALL_EXACT_LIMIT)
    else:
        url = request.getfixturevalue("pgvector_url")
        opened = PgVectorStore(url, exact_limit=SMALL_EXACT_LIMIT)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def tenant() -> str:
    """A tenant of its own per test (the PostgreSQL server is shared by the session)."""
    return f"tenant-{uuid.uuid4().hex[:8]}"
