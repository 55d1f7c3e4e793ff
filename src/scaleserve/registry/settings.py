"""Settings of the registry: where its metadata and artifacts live, how deployments move."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RegistrySettings:
    url: str | None = None
    """Metadata: a SQLite file path (``sqlite:///path`` or a plain path) or
    ``postgresql://…`` (``SCALESERVE_REGISTRY_URL``); default ``<data dir>/registry.sqlite3``."""
    schema: str = "scaleserve"
    """The PostgreSQL schema of the registry's tables (``SCALESERVE_REGISTRY_SCHEMA``), so
    several deployments can share one database."""
    artifacts_url: str | None = None
    """Artifacts: a folder (``file:///path`` or a plain path) or ``s3://bucket/prefix``
    (``SCALESERVE_ARTIFACTS_URL``); default ``<data dir>/artifacts``."""
    cache_dir: str | None = None
    """This host's copies of artifacts (``SCALESERVE_ARTIFACT_CACHE``); default
    ``<data dir>/artifact-cache``."""
    warm_timeout_s: float = 600.0
    """How long a new version may take to get a warm worker before its swap is refused
    (``SCALESERVE_WARM_TIMEOUT_S``)."""
    tick_s: float = 0.25
    """How often swaps and rollouts are looked at (``SCALESERVE_ROLLOUT_TICK_S``)."""

    def metadata_url(self, data_dir: str) -> str:
        return self.url or str(Path(data_dir) / "registry.sqlite3")

    def blobs_url(self, data_dir: str) -> str:
        return self.artifacts_url or str(Path(data_dir) / "artifacts")

    def cache_path(self, data_dir: str) -> Path:
        return Path(self.cache_dir or Path(data_dir) / "artifact-cache")
