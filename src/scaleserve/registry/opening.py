"""Opening the registry a deployment is configured with: its metadata store (by URL), its
blob store (by URL) and this host's artifact cache."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from scaleserve.errors import ConfigError
from scaleserve.registry.artifacts import ArtifactCache, BlobStore
from scaleserve.registry.registry import Registry
from scaleserve.registry.settings import RegistrySettings
from scaleserve.registry.store import RegistryStore


@dataclass(frozen=True)
class OpenRegistry:
    registry: Registry
    artifacts: ArtifactCache


def metadata_store(url: str, schema: str = "scaleserve") -> RegistryStore:
    """``postgresql://…`` or a SQLite file (``sqlite:///path`` or a plain path)."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from scaleserve.registry.backends.postgres import PostgresRegistryStore
        except ImportError as exc:
            raise ConfigError(
                f"a PostgreSQL registry needs psycopg (pip install 'scaleserve[registry]'): {exc}"
            ) from exc
        return PostgresRegistryStore(url, schema)
    if "://" in url and not url.startswith("sqlite:///"):
        raise ConfigError(
            f"registry URL {url.partition('://')[0]}://… is not supported: use postgresql://…, "
            "sqlite:///path or a file path"
        )
    from scaleserve.registry.backends.sqlite import SqliteRegistryStore

    return SqliteRegistryStore(url.removeprefix("sqlite://"))


def blob_store(url: str) -> BlobStore:
    from scaleserve.registry.blob_stores import open_blob_store

    return open_blob_store(url)


@contextlib.asynccontextmanager
async def open_registry(settings: RegistrySettings, data_dir: str) -> AsyncIterator[OpenRegistry]:
    store = metadata_store(settings.metadata_url(data_dir), settings.schema)
    blobs = blob_store(settings.blobs_url(data_dir))
    await store.open()
    try:
        cache = ArtifactCache(settings.cache_path(data_dir), blobs)
        yield OpenRegistry(Registry(store, blobs), cache)
    finally:
        await blobs.close()
        await store.close()
