"""A schema of scaleserve's own in PostgreSQL: what the PostgreSQL stores share (the registry,
the audit log, the job history).

Its name is checked before it goes into any statement, schema changes run under an
advisory lock (so processes starting together do not race), statements get the schema
quoted in and keep values as parameters, and a failure is told with the server's
``host:port/dbname``, never the password. ``PooledSchema`` adds a small pool of
connections, for a store whose writer and readers should not queue behind each other.

Imported only where PostgreSQL is configured: psycopg is an extra.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from scaleserve.errors import ConfigError

Connection = psycopg.AsyncConnection[TupleRow]

SCHEMA_NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
LOCK: LiteralString = "SELECT pg_advisory_xact_lock(%s)"
"""Held until the transaction ends; its one parameter is a ``lock_key``."""
CONNECT_TIMEOUT_S = 5.0
POOL_MAX_SIZE = 4


def check_schema_name(schema: str, owner: str) -> str:
    """``schema``, if PostgreSQL takes it unquoted and it is not a system schema's."""
    if not SCHEMA_NAME_PATTERN.fullmatch(schema) or schema.startswith("pg_"):
        raise ConfigError(
            f"{schema[:80]!r} is not a schema name for the {owner}: 1 to 63 of a-z, 0-9, '_',"
            " not starting with a digit or 'pg_'"
        )
    return schema


def lock_key(*parts: str) -> int:
    """A stable 64-bit advisory lock key naming ``parts`` (a collision only serializes)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def describe_url(url: str, owner: str) -> tuple[str, str | None]:
    """``host:port/dbname`` of ``url`` for messages, and its password (to keep out of them)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        raise ConfigError(
            f"the {owner} URL is not a PostgreSQL URL: use postgresql://user@host:port/dbname"
        ) from None
    host = str(params.get("host") or "the local socket")
    where = f"{host}:{params.get('port') or 5432}/{params.get('dbname') or '(default database)'}"
    password = params.get("password")
    return where, str(password) if password else None


def reason_of(exc: Exception, password: str | None) -> str:
    """What went wrong, on one line, without the password."""
    reason = " ".join(str(exc).split())
    return reason.replace(password, "***") if password else reason


class PooledSchema:
    """``schema`` at ``url``, reached through a pool once ``open`` made its tables.

    ``owner`` names the store in messages ("audit store"); ``application_name`` is what
    ``pg_stat_activity`` shows for its connections.
    """

    def __init__(self, url: str, schema: str, *, owner: str, application_name: str) -> None:
        self.url = url
        self.schema = check_schema_name(schema, owner)
        self.owner = owner
        self.lock_key = lock_key(application_name, schema)
        self._where, self._password = describe_url(url, owner)
        self._connect: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": int(CONNECT_TIMEOUT_S),
            "application_name": application_name,
        }
        self._names = {"schema": sql.Identifier(schema)}
        self._pool: AsyncConnectionPool[Connection] | None = None

    async def open(self, setup: LiteralString) -> None:
        """Run ``setup`` (``{schema}`` quoted in) under the lock, then open the pool (once);
        ``ConfigError`` when the database cannot be reached or refuses ``setup``."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, **self._connect)
            async with conn, conn.transaction():
                await conn.execute(LOCK, (self.lock_key,))
                await conn.execute(self.sql(setup))
        except psycopg.Error as exc:
            raise ConfigError(
                f"the {self.owner} cannot use PostgreSQL at {self._where}: "
                f"{reason_of(exc, self._password)}"
            ) from None
        if self._pool is not None:
            return
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=POOL_MAX_SIZE,
            open=False,
            timeout=CONNECT_TIMEOUT_S,
            check=AsyncConnectionPool.check_connection,
            kwargs=self._connect,
        )
        await pool.open()
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        if self._pool is None:
            raise RuntimeError(f"the {self.owner} is not open")
        async with self._pool.connection() as conn:
            yield conn

    def sql(self, template: LiteralString, **names: sql.Composable) -> sql.Composed:
        """``template`` with ``{schema}`` (and ``names``) quoted; values stay parameters."""
        return sql.SQL(template).format(**self._names, **names)
