"""One SQLite file behind one aiosqlite connection: what the embedded stores share.

WAL with ``synchronous=FULL``, so a committed write survives a crash of the process (and of
the machine), and a busy timeout, so several processes (the CLI and a running gateway) can
write the same file. ``":memory:"`` keeps nothing on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite


class SqliteFile:
    """The connection to ``path``, opened with ``schema`` applied; writes one at a time.

    ``what`` names the owner in the error raised when it is used before ``open()``.
    ``private=True`` creates a new file readable by its owner only (mode 0600; SQLite gives
    its WAL files the same mode); ``foreign_keys=True`` makes SQLite enforce ``REFERENCES``.
    """

    def __init__(
        self,
        path: str | Path,
        schema: str,
        *,
        what: str,
        busy_timeout_ms: int = 5000,
        private: bool = False,
        foreign_keys: bool = False,
    ) -> None:
        self._path = str(path)
        self._schema = schema
        self._what = what
        self._busy_timeout_ms = busy_timeout_ms
        self._private = private
        self._foreign_keys = foreign_keys
        self._db: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()  # one connection: transactions must not interleave

    async def open(self) -> None:
        if self._path != ":memory:":
            _create(Path(self._path), private=self._private)
        self._db = await aiosqlite.connect(self._path, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        if self._foreign_keys:
            await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.executescript(self._schema)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    def conn(self) -> aiosqlite.Connection:
        """The connection, for reads; ``RuntimeError`` before ``open()``."""
        if self._db is None:
            raise RuntimeError(f"{self._what} is not open")
        return self._db

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error), one at a time."""
        db = self.conn()
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")


def _create(path: Path, *, private: bool) -> None:
    """Create the file's folder and, if ``private``, the file itself unless it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
