"""The job history in PostgreSQL: ``{schema}.job_history``, one row per ended job.

Times are ``double precision`` unix seconds, as the job record has them, so a job read back
is the job that was recorded (its view byte for byte, ``created_at`` included); inputs and
outputs are ``bytea``, the JSON exactly as the client saw it, and so is the error message (a
model's own words, which may hold a NUL that a ``text`` column refuses). Rows are keyed by
job id and inserted ``ON CONFLICT DO NOTHING``: recording a job again changes nothing. A
tenant's list walks the index ``(tenant, created_at DESC, id DESC)``.

Connections come from a small pool, so the copier's writes and the API's reads do not
queue behind each other.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, LiteralString

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import PoolTimeout

from scaleserve.errors import HistoryUnavailable
from scaleserve.jobs.history import JobQuery, list_condition
from scaleserve.jobs.record import Job, JobStatus
from scaleserve.postgres_schema import Connection, PooledSchema

log = logging.getLogger(__name__)

APPLICATION_NAME = "scaleserve-jobs-history"

_SETUP: LiteralString = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.job_history (
    id text COLLATE "C" PRIMARY KEY,
    tenant text COLLATE "C" NOT NULL,
    model text NOT NULL,
    status text NOT NULL,
    inputs bytea NOT NULL,
    created_at double precision NOT NULL,
    deadline_at double precision NOT NULL,
    attempts integer NOT NULL,
    started_at double precision,
    finished_at double precision,
    outputs bytea,
    error_code text,
    error bytea,
    webhook_url text,
    expires_at double precision,
    trace text
);
CREATE INDEX IF NOT EXISTS job_history_tenant_created
    ON {schema}.job_history (tenant, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS job_history_created ON {schema}.job_history (created_at);
"""
_DROP_SOME: LiteralString = (
    "DELETE FROM {schema}.job_history WHERE id IN"
    " (SELECT id FROM {schema}.job_history WHERE created_at < %s LIMIT %s)"
)
DROP_BATCH = 5000
"""Rows deleted per statement, so that retention never holds a long transaction."""
_COLUMNS: LiteralString = (
    "id, tenant, model, status, inputs, created_at, deadline_at, attempts, started_at,"
    " finished_at, outputs, error_code, error, webhook_url, expires_at, trace"
)
_INSERT: LiteralString = (
    "INSERT INTO {schema}.job_history (" + _COLUMNS + ") VALUES"
    " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (id) DO NOTHING"
)
_SELECT: LiteralString = (
    "SELECT id, tenant, model, status, inputs, created_at, deadline_at, attempts, started_at,"
    " finished_at, outputs, error_code, error, webhook_url, expires_at, trace"
    " FROM {schema}.job_history"
)


class PostgresJobHistory:
    """See ``scaleserve.jobs.history.JobHistory``; every gateway shares ``schema``."""

    def __init__(self, url: str, schema: str = "scaleserve") -> None:
        self._db = PooledSchema(url, schema, owner="job history", application_name=APPLICATION_NAME)

    async def open(self) -> None:
        """Connect and create the table (again, when it is open already); ``ConfigError``
        (naming the host, never the password) when the database cannot be reached or the
        table cannot be made."""
        await self._db.open(_SETUP)

    async def close(self) -> None:
        await self._db.close()

    async def record(self, jobs: Sequence[Job]) -> None:
        """See ``JobHistory.record``. A job PostgreSQL refuses as data (it would be refused
        for good, and stall the copy of every job after it) is logged and left out; the
        others are kept."""
        try:
            await self._insert(jobs)
        except HistoryUnavailable as exc:
            if not isinstance(exc.__cause__, psycopg.DataError):
                raise
            for job in jobs:
                await self._insert_or_log(job)

    async def _insert_or_log(self, job: Job) -> None:
        try:
            await self._insert([job])
        except HistoryUnavailable as exc:
            if not isinstance(exc.__cause__, psycopg.DataError):
                raise
            log.exception("job %s cannot be kept in the job history", job.id)

    async def _insert(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(self._db.sql(_INSERT), [_row(job) for job in jobs])

    async def drop_before(self, created_before: float) -> int:
        """Delete a batch at a time (each its own transaction) until none is left."""
        dropped = 0
        while True:
            async with self._connection() as conn:
                cursor = await conn.execute(self._db.sql(_DROP_SOME), (created_before, DROP_BATCH))
            dropped += cursor.rowcount
            if cursor.rowcount < DROP_BATCH:
                return dropped

    async def get(self, job_id: str, tenant: str) -> Job | None:
        [job] = await self.get_many([job_id], tenant)
        return job

    async def get_many(self, job_ids: Sequence[str], tenant: str) -> list[Job | None]:
        if not job_ids:
            return []
        query = self._db.sql(_SELECT + " WHERE tenant = %s AND id = ANY(%s)")
        async with self._connection() as conn:
            cursor = await conn.execute(query, (tenant, list(job_ids)))
            found = {job.id: job for job in map(_job, await cursor.fetchall())}
        return [found.get(job_id) for job_id in job_ids]

    async def list_jobs(self, tenant: str, query: JobQuery) -> list[Job]:
        where, args = list_condition(tenant, query, "%s")
        statement = _SELECT + " WHERE " + where + " ORDER BY created_at DESC, id DESC LIMIT %s"
        args.append(max(query.limit, 0))
        async with self._connection() as conn:
            cursor = await conn.execute(self._db.sql(statement), args)
            return [_job(row) for row in await cursor.fetchall()]

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; a database that cannot be reached (or fails the statement)
        is ``HistoryUnavailable``."""
        try:
            async with self._db.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise HistoryUnavailable(
                f"the job history is unavailable: {type(exc).__name__}"
            ) from exc


def _row(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.tenant,
        job.model,
        job.status.value,
        job.inputs,
        job.created_at,
        job.deadline_at,
        job.attempts,
        job.started_at,
        job.finished_at,
        job.outputs,
        job.error_code,
        None if job.error is None else job.error.encode(),
        job.webhook_url,
        job.expires_at,
        job.trace,
    )


def _job(row: TupleRow) -> Job:
    (job_id, tenant, model, status, inputs, *times, outputs, code, error, url, expires, trace) = row
    created_at, deadline_at, attempts, started_at, finished_at = times
    return Job(
        id=job_id,
        tenant=tenant,
        model=model,
        status=JobStatus(status),
        inputs=bytes(inputs),
        created_at=created_at,
        deadline_at=deadline_at,
        attempts=attempts,
        started_at=started_at,
        finished_at=finished_at,
        outputs=None if outputs is None else bytes(outputs),
        error_code=code,
        error=None if error is None else bytes(error).decode(),
        webhook_url=url,
        expires_at=expires,
        trace=trace,
    )
