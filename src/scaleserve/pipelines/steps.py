"""The finished steps of pipeline jobs, kept so that a rerun of a job (its worker or the
whole service died) resumes after its last finished step instead of from the start.

``StepLog`` is the seam; the embedded one is a SQLite file in the data dir. A job's steps
are forgotten once the pipeline has answered (its result is the job's from then on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from scaleserve.sqlite_file import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pipeline_steps (
    job_id TEXT NOT NULL,
    step TEXT NOT NULL,
    output BLOB NOT NULL,
    PRIMARY KEY (job_id, step)
);
"""


class StepLog(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def finished(self, job_id: str) -> dict[str, bytes]:
        """Each finished step of the job and its output (JSON)."""
        ...

    async def record(self, job_id: str, step: str, output: bytes) -> None:
        """Step ``step`` of the job finished with ``output``; durable when this returns."""
        ...

    async def forget(self, job_id: str) -> None: ...


class SqliteStepLog:
    """See ``StepLog``."""

    def __init__(self, path: str | Path) -> None:
        self._file = SqliteFile(path, _SCHEMA, what="pipeline step log", private=True)

    async def open(self) -> None:
        await self._file.open()

    async def close(self) -> None:
        await self._file.close()

    async def finished(self, job_id: str) -> dict[str, bytes]:
        async with self._file.conn().execute(
            "SELECT step, output FROM pipeline_steps WHERE job_id = ?", (job_id,)
        ) as rows:
            return {str(step): bytes(output) async for step, output in rows}

    async def record(self, job_id: str, step: str, output: bytes) -> None:
        async with self._file.transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO pipeline_steps (job_id, step, output) VALUES (?, ?, ?)",
                (job_id, step, output),
            )

    async def forget(self, job_id: str) -> None:
        async with self._file.transaction() as db:
            await db.execute("DELETE FROM pipeline_steps WHERE job_id = ?", (job_id,))


class MemoryStepLog:
    """A ``StepLog`` that keeps nothing across restarts (tests, and ``:memory:``)."""

    def __init__(self) -> None:
        self._steps: dict[str, dict[str, bytes]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def finished(self, job_id: str) -> dict[str, bytes]:
        return dict(self._steps.get(job_id, {}))

    async def record(self, job_id: str, step: str, output: bytes) -> None:
        self._steps.setdefault(job_id, {})[step] = output

    async def forget(self, job_id: str) -> None:
        self._steps.pop(job_id, None)
