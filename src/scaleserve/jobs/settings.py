"""Settings of the jobs part."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobSettings:
    result_ttl_s: float = 24 * 3600.0
    """How long an ended job and its result are kept before they are removed."""
    default_deadline_s: float = 3600.0
    max_deadline_s: float = 7 * 24 * 3600.0
    max_attempts: int = 3
    """Runs of one job whose worker died before the job is failed as poison."""
    max_running_per_model: int = 64
    """Jobs of one model handed to its queue at once; the rest wait in the store."""
    sweep_interval_s: float = 60.0
    max_wait_s: float = 60.0
    """The longest a request may hold its answer for a job to end (``Prefer: wait``)."""
    history_url: str | None = None
    """``postgresql://…`` where ended jobs are kept after Redis lets them go
    (``SCALESERVE_JOBS_HISTORY_URL``; Redis mode only). ``None``: no history."""
    history_schema: str = "scaleserve"
    """The PostgreSQL schema of the history's table (``SCALESERVE_JOBS_HISTORY_SCHEMA``)."""
    history_retention_days: float = 90.0
    """Jobs created longer ago are deleted from the history, hourly
    (``SCALESERVE_JOBS_HISTORY_RETENTION_DAYS``; 0 keeps them for good)."""
