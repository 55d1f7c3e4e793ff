"""Jobs in a SQLite file: the embedded default. WAL with ``synchronous=FULL``, so a job
acknowledged to a client survives a crash of the whole process (and of the machine)."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from scaleserve.errors import JobsExist
from scaleserve.jobs.history import JobQuery, list_condition
from scaleserve.jobs.record import Job, JobEvent, JobStatus
from scaleserve.jobs.watchers import JobWatchers, until_changed, until_ended
from scaleserve.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    inputs BLOB NOT NULL,
    created_at REAL NOT NULL,
    deadline_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    finished_at REAL,
    outputs BLOB,
    error_code TEXT,
    error TEXT,
    webhook_url TEXT,
    expires_at REAL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    trace TEXT
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (status, created_at)
    WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_tenant_created ON jobs (tenant, created_at, id);
CREATE TABLE IF NOT EXISTS job_events (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
"""

_IDS_PER_QUERY = 500  # well under SQLite's limit on a statement's parameters
_COLUMNS = (
    "id, tenant, model, status, inputs, created_at, deadline_at, attempts, started_at,"
    " finished_at, outputs, error_code, error, webhook_url, expires_at, trace"
)


class SqliteJobStore:
    """See ``scaleserve.jobs.store.JobStore``. ``path=":memory:"`` keeps nothing on disk."""

    def __init__(self, path: str | Path) -> None:
        self._file = SqliteFile(path, SCHEMA, what="the job store")
        self._watchers = JobWatchers()

    async def open(self) -> None:
        await self._file.open()
        await self._add_trace_column()

    async def _add_trace_column(self) -> None:
        """A job store made before jobs kept their trace gets the column (empty)."""
        async with self._file.conn().execute("PRAGMA table_info(jobs)") as rows:
            columns = {row[1] for row in await rows.fetchall()}
        if "trace" not in columns:
            async with self._file.transaction() as db:
                await db.execute("ALTER TABLE jobs ADD COLUMN trace TEXT")

    async def close(self) -> None:
        await self._file.close()

    async def create(self, jobs: Sequence[Job]) -> None:
        """Record new queued jobs in one transaction: all of them or none (``JobsExist``
        when one of their ids is taken)."""
        try:
            async with self._file.transaction() as db:
                await db.executemany(
                    f"INSERT INTO jobs ({_COLUMNS}, last_seq) VALUES ({', '.join('?' * 17)})",
                    [(*_row(job), 1) for job in jobs],
                )
                await db.executemany(
                    "INSERT INTO job_events (job_id, seq, status, data) VALUES (?, 1, ?, ?)",
                    [(job.id, job.status.value, orjson.dumps(job.view())) for job in jobs],
                )
        except sqlite3.IntegrityError:
            raise JobsExist() from None
        for job in jobs:
            self._notify(job.id)

    async def get(self, job_id: str, tenant: str) -> Job | None:
        db = self._file.conn()
        async with db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant)
        ) as cursor:
            row = await cursor.fetchone()
        return _job(row) if row else None

    async def get_many(self, job_ids: Sequence[str], tenant: str) -> list[Job | None]:
        found: dict[str, Job] = {}
        for at in range(0, len(job_ids), _IDS_PER_QUERY):
            chunk = job_ids[at : at + _IDS_PER_QUERY]
            async with self._file.conn().execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE tenant = ? AND id IN"
                f" ({', '.join('?' * len(chunk))})",
                (tenant, *chunk),
            ) as cursor:
                found.update((row[0], _job(row)) for row in await cursor.fetchall())
        return [found.get(job_id) for job_id in job_ids]

    async def list_jobs(self, tenant: str, query: JobQuery) -> list[Job]:
        """See ``scaleserve.jobs.history.JobLister``: every job still kept, ended or not."""
        where, args = list_condition(tenant, query, "?")
        statement = (
            f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        async with self._file.conn().execute(statement, (*args, max(query.limit, 0))) as rows:
            return [_job(row) for row in await rows.fetchall()]

    async def claim(self, job_id: str, now: float) -> Job | None:
        return await self._transition(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?"
            " WHERE id = ? AND status = 'queued' AND deadline_at > ?",
            (now, job_id, now),
            job_id,
        )

    async def expire(self, job_id: str, now: float, expires_at: float) -> Job | None:
        return await self._transition(
            "UPDATE jobs SET status = 'expired', finished_at = ?, expires_at = ?, error_code = ?,"
            " error = ? WHERE id = ? AND status = 'queued' AND deadline_at <= ?",
            (
                now,
                expires_at,
                "deadline_exceeded",
                "the deadline passed before the job ran",
                job_id,
                now,
            ),
            job_id,
        )

    async def release(self, job_id: str) -> bool:
        job = await self._transition(
            "UPDATE jobs SET status = 'queued' WHERE id = ? AND status = 'running'",
            (job_id,),
            job_id,
        )
        return job is not None

    async def finish(
        self,
        job_id: str,
        status: JobStatus,
        now: float,
        *,
        outputs: bytes | None = None,
        error_code: str | None = None,
        error: str | None = None,
        expires_at: float,
    ) -> Job | None:
        return await self._transition(
            "UPDATE jobs SET status = ?, finished_at = ?, outputs = ?, error_code = ?, error = ?,"
            " expires_at = ? WHERE id = ? AND status IN ('queued', 'running')",
            (status.value, now, outputs, error_code, error, expires_at, job_id),
            job_id,
        )

    async def cancel(self, job_id: str, tenant: str, now: float, expires_at: float) -> Job | None:
        return await self._transition(
            "UPDATE jobs SET status = 'cancelled', finished_at = ?, expires_at = ?"
            " WHERE id = ? AND tenant = ? AND status = 'queued'",
            (now, expires_at, job_id, tenant),
            job_id,
        )

    async def unfinished(self) -> list[Job]:
        async with self._file.conn().execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
        ) as cursor:
            return [_job(row) for row in await cursor.fetchall()]

    async def events_after(self, job_id: str, after_seq: int) -> list[JobEvent]:
        async with self._file.conn().execute(
            "SELECT seq, status, data FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq",
            (job_id, after_seq),
        ) as cursor:
            rows = await cursor.fetchall()
        return [JobEvent(job_id, seq, JobStatus(status), data) for seq, status, data in rows]

    async def wait_for_event(self, job_id: str, after_seq: int, timeout_s: float) -> None:
        async def changed_yet() -> bool:
            return bool(await self.events_after(job_id, after_seq))

        await until_changed(self._watchers, job_id, changed_yet, timeout_s)

    async def wait_until_ended(
        self,
        job_id: str,
        tenant: str,
        timeout_s: float,
        first_state: Awaitable[Job] | None = None,
    ) -> Job | None:
        return await until_ended(
            self._watchers, job_id, lambda: self.get(job_id, tenant), timeout_s, first_state
        )

    async def delete_expired(self, now: float) -> int:
        async with self._file.transaction() as db:
            await db.execute(
                "DELETE FROM job_events WHERE job_id IN"
                " (SELECT id FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?)",
                (now,),
            )
            cursor = await db.execute(
                "DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
            return cursor.rowcount

    async def _transition(self, sql: str, params: tuple[Any, ...], job_id: str) -> Job | None:
        async with self._file.transaction() as db:
            cursor = await db.execute(sql, params)
            if cursor.rowcount == 0:
                return None
            async with db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)) as rows:
                row = await rows.fetchone()
            assert row is not None
            job = _job(row)
            await self._append_event(db, job)
        self._notify(job_id)
        return job

    @staticmethod
    async def _append_event(db: aiosqlite.Connection, job: Job) -> None:
        await db.execute("UPDATE jobs SET last_seq = last_seq + 1 WHERE id = ?", (job.id,))
        await db.execute(
            "INSERT INTO job_events (job_id, seq, status, data)"
            " SELECT id, last_seq, ?, ? FROM jobs WHERE id = ?",
            (job.status.value, orjson.dumps(job.view()), job.id),
        )

    def _notify(self, job_id: str) -> None:
        self._watchers.notify(job_id)


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
        job.error,
        job.webhook_url,
        job.expires_at,
        job.trace,
    )


def _job(row: sqlite3.Row | tuple[Any, ...]) -> Job:
    (
        job_id,
        tenant,
        model,
        status,
        inputs,
        created_at,
        deadline_at,
        attempts,
        started_at,
        finished_at,
        outputs,
        error_code,
        error,
        webhook_url,
        expires_at,
        trace,
    ) = row
    return Job(
        id=job_id,
        tenant=tenant,
        model=model,
        status=JobStatus(status),
        inputs=inputs,
        created_at=created_at,
        deadline_at=deadline_at,
        attempts=attempts,
        started_at=started_at,
        finished_at=finished_at,
        outputs=outputs,
        error_code=error_code,
        error=error,
        webhook_url=webhook_url,
        expires_at=expires_at,
        trace=trace,
    )
