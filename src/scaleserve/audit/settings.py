"""Settings of the audit log: where it is kept, and for how long."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AuditSettings:
    url: str | None = None
    """``postgresql://…`` (a table partitioned by day) or a SQLite file path
    (``SCALESERVE_AUDIT_URL``); default ``<data dir>/audit.sqlite3``."""
    schema: str = "scaleserve"
    """The PostgreSQL schema of its table (``SCALESERVE_AUDIT_SCHEMA``)."""
    retention_days: int = 30
    """Days of records kept (``SCALESERVE_AUDIT_RETENTION_DAYS``); older days are dropped."""
    days_ahead: int = 3
    """Daily partitions made ahead of time (PostgreSQL)."""

    def location(self, data_dir: str) -> str:
        return self.url or str(Path(data_dir) / "audit.sqlite3")

    @property
    def on_postgres(self) -> bool:
        return bool(self.url and self.url.startswith(("postgresql://", "postgres://")))
