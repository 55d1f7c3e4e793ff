"""Tenants, API key hashes and usage in one SQLite file: the embedded default.

WAL with ``synchronous=FULL`` and a busy timeout (``scaleserve.sqlite_file``), so the
``scaleserve`` CLI and a running gateway can both write the same file. A new file is created
readable by its owner only (mode 0600; SQLite gives its WAL files the same mode).
``":memory:"`` keeps nothing on disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from scaleserve.errors import TenantExists, UnknownTenant
from scaleserve.sqlite_file import SqliteFile
from scaleserve.tenancy import keys
from scaleserve.tenancy.records import ADMIN_TENANT, ApiKey, Limits, Tenant, Usage
from scaleserve.tenancy.store import (
    check_new_key,
    check_tenant_name,
    limits_from_json,
    limits_json,
    unknown_key,
)
from scaleserve.tenancy.usage import check_day

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tenants (
    name TEXT PRIMARY KEY,
    limits TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL REFERENCES tenants (name),
    label TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant, created_at);
CREATE TABLE IF NOT EXISTS usage (
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    day TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    items INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    compute_s REAL NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, model, day)
) WITHOUT ROWID;
"""

_TENANT = "SELECT name, limits, created_at, revoked_at FROM tenants"
_KEY = "SELECT id, tenant, created_at, label, revoked_at FROM api_keys"
_FIND_KEY = (
    "SELECT k.id, k.tenant, k.created_at, k.label, k.revoked_at,"
    " t.name, t.limits, t.created_at, t.revoked_at"
    " FROM api_keys AS k JOIN tenants AS t ON t.name = k.tenant WHERE k.hash = ?"
)
_ADD_USAGE = (
    "INSERT INTO usage (tenant, model, day, requests, items, errors, compute_s, tokens)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, model, day) DO UPDATE SET"
    " requests = requests + excluded.requests, items = items + excluded.items,"
    " errors = errors + excluded.errors, compute_s = compute_s + excluded.compute_s,"
    " tokens = tokens + excluded.tokens"
)
_USAGE = (
    "SELECT tenant, model, day, requests, items, errors, compute_s, tokens FROM usage"
    " WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR day >= ?2)"
    " AND (?3 IS NULL OR day <= ?3) ORDER BY tenant, model, day"
)
_PEPPER = "key_pepper"


class SqliteTenancyStore:
    """See ``scaleserve.tenancy.store.TenantStore`` and ``scaleserve.tenancy.usage.UsageStore``."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
        self._file = SqliteFile(
            path,
            SCHEMA,
            what="the tenancy store",
            busy_timeout_ms=busy_timeout_ms,
            private=True,
            foreign_keys=True,
        )
        self._pepper: bytes | None = None

    async def open(self) -> None:
        await self._file.open()

    async def close(self) -> None:
        await self._file.close()

    async def pepper(self) -> bytes:
        if self._pepper is None:
            async with self._file.transaction() as db:
                await db.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)",
                    (_PEPPER, keys.new_pepper()),
                )
                row = await _one(db, "SELECT value FROM meta WHERE name = ?", (_PEPPER,))
            self._pepper = bytes(row[0])
        return self._pepper

    # -- tenants ---------------------------------------------------------------------------
    async def create_tenant(self, name: str, limits: Limits, now: float) -> Tenant:
        check_tenant_name(name)
        try:
            async with self._file.transaction() as db:
                await db.execute(
                    "INSERT INTO tenants (name, limits, created_at) VALUES (?, ?, ?)",
                    (name, limits_json(limits).decode(), now),
                )
        except sqlite3.IntegrityError:
            raise TenantExists(name) from None
        return Tenant(name, limits, now)

    async def get_tenant(self, name: str) -> Tenant | None:
        row = await _one(self._file.conn(), f"{_TENANT} WHERE name = ?", (name,))
        return _tenant(row) if row else None

    async def list_tenants(self) -> list[Tenant]:
        rows = await _all(
            self._file.conn(), f"{_TENANT} WHERE name != ? ORDER BY name", (ADMIN_TENANT,)
        )
        return [_tenant(row) for row in rows]

    async def count_tenants(self) -> int:
        sql = "SELECT count(*) FROM tenants WHERE name != ?"
        row = await _one(self._file.conn(), sql, (ADMIN_TENANT,))
        return int(row[0]) if row else 0

    async def set_limits(self, name: str, limits: Limits) -> Tenant:
        async with self._file.transaction() as db:
            sql = "UPDATE tenants SET limits = ? WHERE name = ?"
            cursor = await db.execute(sql, (limits_json(limits).decode(), name))
            if cursor.rowcount == 0:
                raise UnknownTenant(name)
            row = await _one(db, f"{_TENANT} WHERE name = ?", (name,))
        return _tenant(row)

    async def revoke_tenant(self, name: str, now: float) -> Tenant:
        async with self._file.transaction() as db:
            sql = "UPDATE tenants SET revoked_at = coalesce(revoked_at, ?) WHERE name = ?"
            cursor = await db.execute(sql, (now, name))
            if cursor.rowcount == 0:
                raise UnknownTenant(name)
            await db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE tenant = ? AND revoked_at IS NULL",
                (now, name),
            )
            row = await _one(db, f"{_TENANT} WHERE name = ?", (name,))
        return _tenant(row)

    # -- keys ------------------------------------------------------------------------------
    async def add_key(
        self, tenant: str, key_id: str, key_hash: str, label: str, now: float
    ) -> ApiKey | None:
        check_new_key(key_id, key_hash, label)
        async with self._file.transaction() as db:
            sql = "SELECT revoked_at FROM tenants WHERE name = ?"
            owner = await _one(db, sql, (tenant,))
            if owner is None or owner[0] is not None:
                raise UnknownTenant(tenant)
            cursor = await db.execute(
                "INSERT OR IGNORE INTO api_keys (hash, id, tenant, label, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key_hash, key_id, tenant, label, now),
            )
            taken = cursor.rowcount == 0
        return None if taken else ApiKey(key_id, tenant, now, label)

    async def find_key(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        row = await _one(self._file.conn(), _FIND_KEY, (key_hash,))
        return (_key(row[:5]), _tenant(row[5:])) if row else None

    async def revoke_key(self, key_id: str, now: float) -> ApiKey:
        async with self._file.transaction() as db:
            sql = "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?"
            cursor = await db.execute(sql, (now, key_id))
            if cursor.rowcount == 0:
                raise unknown_key(key_id)
            row = await _one(db, f"{_KEY} WHERE id = ?", (key_id,))
        return _key(row)

    async def list_keys(self, tenant: str) -> list[ApiKey]:
        db = self._file.conn()
        if await _one(db, "SELECT 1 FROM tenants WHERE name = ?", (tenant,)) is None:
            raise UnknownTenant(tenant)
        rows = await _all(db, f"{_KEY} WHERE tenant = ? ORDER BY created_at, id", (tenant,))
        return [_key(row) for row in rows]

    # -- usage -----------------------------------------------------------------------------
    async def add(self, deltas: Sequence[Usage]) -> None:
        if not deltas:
            return
        rows = [
            (u.tenant, u.model, u.day, u.requests, u.items, u.errors, u.compute_s, u.tokens)
            for u in deltas
        ]
        async with self._file.transaction() as db:
            await db.executemany(_ADD_USAGE, rows)

    async def query(
        self, tenant: str | None, since_day: str | None = None, until_day: str | None = None
    ) -> list[Usage]:
        params = (tenant, check_day(since_day), check_day(until_day))
        return [Usage(*row) for row in await _all(self._file.conn(), _USAGE, params)]


async def _one(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> Any:
    async with db.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _all(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    async with db.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


def _tenant(row: Sequence[Any]) -> Tenant:
    name, limits, created_at, revoked_at = row
    return Tenant(name, limits_from_json(limits), created_at, revoked_at)


def _key(row: Sequence[Any]) -> ApiKey:
    key_id, tenant, created_at, label, revoked_at = row
    return ApiKey(key_id, tenant, created_at, label, revoked_at)
