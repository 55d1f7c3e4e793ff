"""A registry on SQLite and a local blob folder, fresh per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
