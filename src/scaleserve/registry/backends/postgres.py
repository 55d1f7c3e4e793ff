"""Registry metadata in PostgreSQL: the distributed backend.

Every gateway and the CLI share one schema (``scaleserve`` unless told). Records are the
codec's JSON documents, kept as ``text`` (byte for byte what the codec wrote, as in SQLite).
Each store holds one connection for commands, one transaction at a time, and reconnects on
the next call when it breaks.

``open()`` applies the numbered ``MIGRATIONS`` not yet recorded in the schema's
``schema_migrations``, in one transaction under an advisory lock, so processes starting
together apply each exactly once.

A watcher LISTENs on the schema's channel on a connection of its own; ``commit`` notifies
it in the committing transaction, so watchers hear only committed changes, within
milliseconds. A watcher also re-reads the revisions every ``RESYNC_INTERVAL_S`` and after
reconnecting, so a lost connection or notice loses no change.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from scaleserve.errors import ConfigError, Conflict, UnknownVersion
from scaleserve.postgres_schema import (
    LOCK,
    check_schema_name,
    describe_url,
    lock_key,
    reason_of,
)
from scaleserve.registry import codec
from scaleserve.registry.records import Event, ModelState, ModelVersion
from scaleserve.registry.store import next_revision, numbered, stale, stamped

log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[TupleRow]

CHANNEL_PREFIX = "scaleserve_registry_"
MAX_IDENTIFIER_LENGTH = 63
"""PostgreSQL's longest name (``NAMEDATALEN - 1``); ``pg_notify`` refuses longer channels."""
CONNECT_TIMEOUT_S = 5
RESYNC_INTERVAL_S = 5.0
"""How often a watcher re-reads every revision, in case a notice was lost."""
READ_TIMEOUT_S = 10.0
"""A watcher's read taking longer means its connection is dead: it reconnects."""
FIRST_RECONNECT_DELAY_S = 0.1
MAX_RECONNECT_DELAY_S = 5.0
APPLICATION_NAME = "scaleserve-registry"
WATCH_APPLICATION_NAME = "scaleserve-registry-watch"

MIGRATIONS: tuple[LiteralString, ...] = (
    """
    CREATE TABLE {schema}.versions (
        model text COLLATE "C" NOT NULL,
        version text COLLATE "C" NOT NULL,
        seq integer NOT NULL,
        doc text NOT NULL,
        PRIMARY KEY (model, version),
        UNIQUE (model, seq)
    );
    CREATE TABLE {schema}.states (
        model text COLLATE "C" PRIMARY KEY,
        revision bigint NOT NULL,
        doc text NOT NULL
    );
    CREATE TABLE {schema}.events (
        id bigserial PRIMARY KEY,
        model text COLLATE "C" NOT NULL,
        doc text NOT NULL
    );
    CREATE INDEX events_model ON {schema}.events (model, id);
    """,
)
"""Migration ``n`` is ``MIGRATIONS[n - 1]``; append only, never edit one that shipped.
``COLLATE "C"``: names sort by code point, as in SQLite, whatever the database's locale."""

_CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS {schema}"
_CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS {schema}.schema_migrations"
    " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"
)
_APPLIED = "SELECT version FROM {schema}.schema_migrations"
_RECORD_MIGRATION = (
    "INSERT INTO {schema}.schema_migrations (version, applied_at) VALUES (%s, now())"
)
_NEXT_SEQ = "SELECT COALESCE(MAX(seq), 0) + 1 FROM {schema}.versions WHERE model = %s"
_INSERT_VERSION = (
    "INSERT INTO {schema}.versions (model, version, seq, doc) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT DO NOTHING"
)
_GET_VERSION = "SELECT doc FROM {schema}.versions WHERE model = %s AND version = %s"
_LIST_VERSIONS = "SELECT doc FROM {schema}.versions WHERE model = %s ORDER BY seq"
_VERSION_NAMES = "SELECT version FROM {schema}.versions WHERE model = %s"
_LIST_MODELS = "SELECT DISTINCT model FROM {schema}.versions ORDER BY model"
_GET_STATE = "SELECT doc FROM {schema}.states WHERE model = %s"
_CREATE_STATE = (
    "INSERT INTO {schema}.states (model, revision, doc) VALUES (%s, %s, %s)"
    " ON CONFLICT (model) DO NOTHING"
)
_UPDATE_STATE = (
    "UPDATE {schema}.states SET revision = %s, doc = %s WHERE model = %s AND revision = %s"
)
_INSERT_EVENT = "INSERT INTO {schema}.events (model, doc) VALUES (%s, %s)"
_NOTIFY = "SELECT pg_notify(%s, %s)"
_HISTORY = (
    "SELECT doc FROM (SELECT id, doc FROM {schema}.events WHERE model = %s"
    " ORDER BY id DESC LIMIT %s) AS last ORDER BY id"
)
_REVISIONS = "SELECT model, revision FROM {schema}.states"
_LISTEN = "LISTEN {channel}"


def channel_name(schema: str) -> str:
    """The schema's notification channel (a digest of the schema when its name is long)."""
    name = CHANNEL_PREFIX + schema
    if len(name) <= MAX_IDENTIFIER_LENGTH:
        return name
    return CHANNEL_PREFIX + hashlib.blake2b(schema.encode(), digest_size=16).hexdigest()


class PostgresRegistryStore:
    """See ``scaleserve.registry.store.RegistryStore``; ``watch()`` ends when it closes."""

    def __init__(self, url: str, schema: str = "scaleserve") -> None:
        self._url = url
        self._where, self._password = describe_url(url, "registry")
        self._schema = check_schema_name(schema, "registry")
        self._names = {"schema": sql.Identifier(schema)}
        self._channel = channel_name(schema)
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()  # one connection: transactions must not interleave
        self._listeners: set[Connection] = set()

    async def open(self) -> None:
        """Connect and migrate; ``ConfigError`` (naming the host, never the password) when
        the database cannot be reached or the schema cannot be made."""
        try:
            conn = await self._connect(APPLICATION_NAME)
        except psycopg.OperationalError as exc:
            raise self._config_error("cannot connect to", exc) from None
        try:
            await self._migrate(conn)
        except psycopg.Error as exc:
            await conn.close()
            raise self._config_error(f"cannot set up schema {self._schema!r} in", exc) from None
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        for listener in list(self._listeners):
            await listener.close()  # its watcher wakes with an error, sees it is closed, ends
        if conn is not None:
            await conn.close()

    async def add_version(self, version: ModelVersion) -> ModelVersion:
        async with self._transaction() as conn:
            # One writer numbers a model at a time, so MAX(seq) + 1 is never taken twice.
            await conn.execute(LOCK, (lock_key(self._schema, "versions", version.model),))
            seq = int(await self._scalar(conn, _NEXT_SEQ, (version.model,)))
            if not version.version:
                cursor = await conn.execute(self._sql(_VERSION_NAMES), (version.model,))
                taken = {str(row[0]) for row in await cursor.fetchall()}
                version = numbered(version, seq, taken)
            doc = codec.version_json(version).decode()
            cursor = await conn.execute(
                self._sql(_INSERT_VERSION), (version.model, version.version, seq, doc)
            )
            if cursor.rowcount != 1:
                raise Conflict(
                    f"model {version.model!r} has a version {version.version!r} already; "
                    "versions are immutable: register another"
                )
        return version

    async def get_version(self, model: str, version: str) -> ModelVersion:
        rows = await self._fetch(_GET_VERSION, (model, version))
        if not rows:
            raise UnknownVersion(model, version)
        return codec.version_from_json(rows[0][0])

    async def list_versions(self, model: str) -> list[ModelVersion]:
        rows = await self._fetch(_LIST_VERSIONS, (model,))
        return [codec.version_from_json(row[0]) for row in rows]

    async def list_models(self) -> list[str]:
        return [str(row[0]) for row in await self._fetch(_LIST_MODELS, ())]

    async def state(self, model: str) -> ModelState:
        rows = await self._fetch(_GET_STATE, (model,))
        return ModelState(model) if not rows else codec.state_from_json(rows[0][0])

    async def commit(self, state: ModelState, events: Sequence[Event] = ()) -> ModelState:
        new = next_revision(state)
        doc = codec.state_json(new).decode()
        async with self._transaction() as conn:
            # Row locks make this a compare-and-set: a concurrent writer waits for ours to
            # end, then finds the revision (or the first row) changed and writes nothing.
            args: tuple[Any, ...]
            if state.revision == 0:
                query, args = _CREATE_STATE, (new.model, new.revision, doc)
            else:
                query, args = _UPDATE_STATE, (new.revision, doc, new.model, state.revision)
            cursor = await conn.execute(self._sql(query), args)
            if cursor.rowcount != 1:
                raise stale(state)
            await self._record(conn, new, events)
            await conn.execute(_NOTIFY, (self._channel, new.model))  # sent at COMMIT
        return new

    async def history(self, model: str, limit: int = 200) -> list[Event]:
        # A negative limit means all of them, as SQLite's LIMIT does.
        rows = await self._fetch(_HISTORY, (model, limit if limit >= 0 else None))
        return [codec.event_from_json(row[0]) for row in rows]

    async def revisions(self) -> dict[str, int]:
        async with self._session() as conn:
            return await self._read_revisions(conn)

    def watch(self) -> AsyncIterator[set[str]]:
        """See ``RegistryStore.watch``; survives lost connections (it reconnects and
        re-reads), and ends when the store is closed."""
        if self._conn is None:
            raise RuntimeError("the registry store is not open")
        return self._watch()

    async def _watch(self) -> AsyncIterator[set[str]]:
        seen: dict[str, int] | None = None
        failures = 0
        while self._conn is not None:
            try:
                async with self._listener() as conn:
                    failures = 0
                    while True:
                        current = await self._read_revisions(conn, READ_TIMEOUT_S)
                        changed = _changes(seen, current)
                        seen = current
                        if changed is not None:
                            yield changed
                        await _await_notice(conn, RESYNC_INTERVAL_S)
            except (psycopg.OperationalError, TimeoutError) as exc:
                if self._conn is None:
                    return
                failures += 1
                if failures == 1:
                    log.warning("registry watch lost %s (%s); reconnecting", self._where, exc)
                await asyncio.sleep(_reconnect_delay_s(failures))

    @contextlib.asynccontextmanager
    async def _listener(self) -> AsyncIterator[Connection]:
        """A connection of its own LISTENing on the channel (closed by ``close()`` too)."""
        conn = await self._connect(WATCH_APPLICATION_NAME)
        self._listeners.add(conn)
        try:
            listen = sql.SQL(_LISTEN).format(channel=sql.Identifier(self._channel))
            await conn.execute(listen)
            yield conn
        finally:
            self._listeners.discard(conn)
            await conn.close()

    async def _connect(self, application_name: str) -> Connection:
        return await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=application_name,
            # A dead peer (a half-open TCP connection) shows in about 25 s, not hours.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )

    async def _migrate(self, conn: Connection) -> None:
        async with conn.transaction():
            await conn.execute(LOCK, (lock_key(self._schema, "migrations"),))
            await conn.execute(self._sql(_CREATE_SCHEMA))
            await conn.execute(self._sql(_CREATE_MIGRATIONS))
            applied = {int(row[0]) for row in await self._rows(conn, _APPLIED, ())}
            for number, migration in enumerate(MIGRATIONS, start=1):
                if number not in applied:
                    await conn.execute(self._sql(migration))
                    await conn.execute(self._sql(_RECORD_MIGRATION), (number,))

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[Connection]:
        """The command connection, to this task alone; a new one if it broke."""
        async with self._lock:
            if self._conn is None:
                raise RuntimeError("the registry store is not open")
            if self._conn.broken or self._conn.info.transaction_status != TransactionStatus.IDLE:
                await self._conn.close()  # a broken or cancelled one is in no known state
                self._conn = await self._connect(APPLICATION_NAME)
            yield self._conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._session() as conn, conn.transaction():
            yield conn

    async def _fetch(self, query: LiteralString, args: Sequence[Any]) -> list[TupleRow]:
        async with self._session() as conn:
            return await self._rows(conn, query, args)

    async def _rows(
        self, conn: Connection, query: LiteralString, args: Sequence[Any]
    ) -> list[TupleRow]:
        cursor = await conn.execute(self._sql(query), args)
        return await cursor.fetchall()

    async def _scalar(self, conn: Connection, query: LiteralString, args: Sequence[Any]) -> Any:
        rows = await self._rows(conn, query, args)
        return rows[0][0]

    async def _read_revisions(
        self, conn: Connection, timeout_s: float | None = None
    ) -> dict[str, int]:
        async with asyncio.timeout(timeout_s):
            rows = await self._rows(conn, _REVISIONS, ())
        return {str(model): int(revision) for model, revision in rows}

    async def _record(self, conn: Connection, state: ModelState, events: Sequence[Event]) -> None:
        """Insert ``events``, stamped with ``state``'s revision."""
        if not events:
            return
        docs = [(e.model, codec.event_json(stamped(e, state.revision)).decode()) for e in events]
        async with conn.cursor() as cursor:
            await cursor.executemany(self._sql(_INSERT_EVENT), docs)

    def _sql(self, template: LiteralString) -> sql.Composed:
        """``template`` with ``{schema}`` as the quoted schema name (values stay parameters)."""
        return sql.SQL(template).format(**self._names)

    def _config_error(self, doing: str, exc: psycopg.Error) -> ConfigError:
        reason = reason_of(exc, self._password)
        return ConfigError(f"the registry {doing} PostgreSQL at {self._where}: {reason}")


def _changes(seen: dict[str, int] | None, current: dict[str, int]) -> set[str] | None:
    """What a watcher yields on reading ``current`` after ``seen`` (``None``: nothing)."""
    if seen is None:
        return set(current)
    changed = {model for model, revision in current.items() if seen.get(model) != revision}
    return changed or None


async def _await_notice(conn: Connection, timeout_s: float) -> None:
    """Wait for a notice on ``conn`` (at most ``timeout_s``), then take all already there."""
    async for _ in conn.notifies(timeout=timeout_s, stop_after=1):
        pass
    async for _ in conn.notifies(timeout=0):
        pass


def _reconnect_delay_s(failures: int) -> float:
    return min(FIRST_RECONNECT_DELAY_S * 2.0 ** min(failures - 1, 16), MAX_RECONNECT_DELAY_S)
