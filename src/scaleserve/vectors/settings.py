"""Settings of the vector collections: where they live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scaleserve.vectors.store import VectorStore


@dataclass(frozen=True)
class VectorSettings:
    url: str | None = None
    """``postgresql://…`` (with the pgvector extension) shared by every gateway, or a folder
    (``SCALESERVE_VECTORS_URL``); default ``<data dir>/vectors``, embedded in the gateway."""

    def store(self, data_dir: str) -> VectorStore:
        """The store these settings name (not yet opened)."""
        url = self.url or str(Path(data_dir) / "vectors")
        if url.startswith(("postgresql://", "postgres://")):
            from scaleserve.vectors.backends.pgvector import PgVectorStore  # needs [pgvector]

            return PgVectorStore(url)
        from scaleserve.vectors.backends.embedded import EmbeddedVectorStore

        return EmbeddedVectorStore(url.removeprefix("file://"))
