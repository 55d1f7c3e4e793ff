"""The job history: ended jobs kept after the hot store has let them go.

On Redis a job is kept for ``JobSettings.result_ttl_s`` after it ends; a history keeps it
for ``JobSettings.history_retention_days``, so that it can still be read by id and a tenant
can list its jobs. ``JobLister``
is the listing alone, which the embedded SQLite job store answers over its own table.

A list is newest first, ordered by ``(created_at, id)`` descending; a page's last job is
the keyset ``after`` of the next page, so pages neither repeat nor skip a job while jobs
are added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, Protocol

from scaleserve.jobs.record import Job, JobStatus


@dataclass(frozen=True)
class JobQuery:
    """Which of a tenant's jobs to list, and the page wanted."""

    status: JobStatus | None = None
    """Only jobs of this status (``None``: any)."""
    since: float | None = None
    """Only jobs created at or after this unix time."""
    limit: int = 50
    after: tuple[float, str] | None = None
    """The ``(created_at, id)`` of the previous page's last job: list the older ones."""


def list_condition(
    tenant: str, query: JobQuery, mark: LiteralString
) -> tuple[LiteralString, list[Any]]:
    """The SQL condition of a tenant's list (``mark``: the driver's placeholder, ``?`` or
    ``%s``) and its arguments; the list is ordered by ``(created_at, id)`` descending."""
    where: list[LiteralString] = [f"tenant = {mark}"]
    args: list[Any] = [tenant]
    if query.status is not None:
        where.append(f"status = {mark}")
        args.append(query.status.value)
    if query.since is not None:
        where.append(f"created_at >= {mark}")
        args.append(query.since)
    if query.after is not None:
        where.append(f"(created_at, id) < ({mark}, {mark})")
        args += list(query.after)
    return " AND ".join(where), args


class JobLister(Protocol):
    async def list_jobs(self, tenant: str, query: JobQuery) -> list[Job]:
        """At most ``query.limit`` of the tenant's jobs matching ``query``, newest first."""
        ...


class JobHistory(JobLister, Protocol):
    """Ended jobs, kept until retention deletes them. Recording is idempotent: a job
    recorded again (a copy retried after a failure, or made by two gateways) changes
    nothing."""

    async def open(self) -> None:
        """Connect and create what is missing; ``ConfigError`` when it cannot."""
        ...

    async def close(self) -> None: ...

    async def record(self, jobs: Sequence[Job]) -> None:
        """Keep ``jobs`` (ended ones), all of them or none; durable when this returns."""
        ...

    async def get(self, job_id: str, tenant: str) -> Job | None:
        """The job if it is kept and belongs to ``tenant``."""
        ...

    async def get_many(self, job_ids: Sequence[str], tenant: str) -> list[Job | None]:
        """``get`` of each id, in order, in one step."""
        ...

    async def drop_before(self, created_before: float) -> int:
        """Delete the jobs created before this unix time; how many."""
        ...
