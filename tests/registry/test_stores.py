"""Every registry metadata store behaves the same: SQLite (a temporary file) and PostgreSQL
(the real server on loopback, a fresh schema per test, dropped afterwards).

"Two stores" are two instances on the same data, as two gateways or a gateway and the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql

from scaleserve.errors import ConfigError, Conflict, UnknownVersion
from scaleserve.registry.backends.postgres import (
    MIGRATIONS,
    WATCH_APPLICATION_NAME,
    PostgresRegistryStore,
)
from scaleserve.registry.backends.sqlite import SqliteRegistryStore
from scaleserve.registry.records import (
    ArtifactFile,
    Event,
    ModelState,
    ModelVersion,
    Rollout,
    RolloutPolicy,
    RolloutStep,
    Swap,
)
from scaleserve.registry.store import RegistryStore, stamped
from tests.conftest import PG_URL

WAIT_S = 5.0
"""The longest any test waits for a watcher (a failure, not a sleep)."""

# -- the backends ---------------------------------------------------------------------------


@dataclass
class Backend:
    """Makes stores on the same data, and closes every one it opened."""

    kind: str
    make: Callable[[], RegistryStore]
    opened: list[RegistryStore] = field(default_factory=list)

    async def open(self) -> RegistryStore:
        store = self.make()
        await store.open()
        self.opened.append(store)
        return store

    async def close(self) -> None:
        for store in reversed(self.opened):
            await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend_maker(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    # A plain fixture: only the PostgreSQL parameter asks for (and may skip on) PostgreSQL.
    if request.param == "sqlite":
        path = tmp_path / "registry.sqlite3"
        return Backend("sqlite", lambda: SqliteRegistryStore(path))
    url: str = request.getfixturevalue("pg_url")
    schema: str = request.getfixturevalue("pg_schema")
    return Backend("postgres", lambda: PostgresRegistryStore(url, schema))


@pytest.fixture
async def backend(backend_maker: Backend) -> AsyncIterator[Backend]:
    yield backend_maker
    await backend_maker.close()


@pytest.fixture
async def store(backend: Backend) -> RegistryStore:
    return await backend.open()


@pytest.fixture
async def other(backend: Backend, store: RegistryStore) -> RegistryStore:
    """A second store on the same data (another gateway)."""
    return await backend.open()


# -- records --------------------------------------------------------------------------------


def version(model: str = "m", name: str = "", **changes: Any) -> ModelVersion:
    record = ModelVersion(
        model=model,
        version=name,
        model_class="app:Model",
        files=(ArtifactFile("weights.bin", "ab" * 32, 3),),
        created_at=1700000000.25,
        registered_by="cli",
    )
    return dataclasses.replace(record, **changes)


def event(model: str, action: str, at: float = 1.0) -> Event:
    return Event(model, at, action, actor="admin", reason=f"because {action}", detail={"n": 1})


def serving(model: str, stable: str, revision: int = 0) -> ModelState:
    return ModelState(model, aliases={"production": stable}, revision=revision)


# -- watching -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def watching(store: RegistryStore) -> AsyncIterator[AsyncIterator[set[str]]]:
    """``store.watch()``, closed afterwards."""
    changes = cast(AsyncGenerator[set[str], None], store.watch())
    try:
        yield changes
    finally:
        await changes.aclose()


async def next_change(changes: AsyncIterator[set[str]], timeout_s: float = WAIT_S) -> set[str]:
    async with asyncio.timeout(timeout_s):
        return await anext(changes)


async def change_of(
    changes: AsyncIterator[set[str]], model: str, timeout_s: float = WAIT_S
) -> set[str]:
    """The first change that names ``model`` (a watcher may first report others)."""
    async with asyncio.timeout(timeout_s):
        while model not in (changed := await anext(changes)):
            pass
    return changed


# -- versions -------------------------------------------------------------------------------


async def test_versions_without_a_name_are_numbered(store: RegistryStore) -> None:
    added = [await store.add_version(version()) for _ in range(3)]
    assert [v.version for v in added] == ["1", "2", "3"]
    assert await store.list_versions("m") == added
    assert await store.get_version("m", "2") == added[1]


async def test_numbering_skips_a_name_taken_by_an_explicit_version(store: RegistryStore) -> None:
    await store.add_version(version(name="2"))
    assert (await store.add_version(version())).version == "3"
    assert (await store.add_version(version())).version == "4"


async def test_explicit_versions_keep_every_field(store: RegistryStore) -> None:
    rich = version(
        name="v2.0-rc_1",
        code=(ArtifactFile("app.py", "cd" * 32, 10),),
        tags={"team": "search", "owner/id": "x:1"},
        metrics={"accuracy": 0.9312, "loss": 1e-9},
        allow_pickle=True,
        flavor="mlflow.pyfunc",
        signature={"inputs": [{"name": "x", "type": "double"}], "outputs": None},
        description="naïve 模型 'quoted'; DROP TABLE versions; -- \x00 nul",
    )
    assert await store.add_version(rich) == rich
    assert await store.get_version("m", "v2.0-rc_1") == rich
    numbered = await store.add_version(version())
    assert numbered.version == "2"  # numbers count every version, named or not
    assert await store.list_versions("m") == [rich, numbered]


async def test_a_duplicate_version_conflicts(store: RegistryStore) -> None:
    first = await store.add_version(version(name="a", description="first"))
    with pytest.raises(Conflict, match="has a version 'a' already"):
        await store.add_version(version(name="a", description="second"))
    assert await store.list_versions("m") == [first]
    assert (await store.add_version(version())).version == "2"


async def test_an_unknown_version_is_unknown(store: RegistryStore) -> None:
    await store.add_version(version(name="1"))
    with pytest.raises(UnknownVersion):
        await store.get_version("m", "2")
    with pytest.raises(UnknownVersion):
        await store.get_version("nobody", "1")
    assert await store.list_versions("nobody") == []


async def test_versions_of_each_model_are_apart(store: RegistryStore) -> None:
    a1 = await store.add_version(version("a"))
    b1 = await store.add_version(version("b"))
    a2 = await store.add_version(version("a"))
    assert (a1.version, b1.version, a2.version) == ("1", "1", "2")
    assert await store.list_versions("a") == [a1, a2]
    assert await store.list_versions("b") == [b1]


async def test_models_are_listed_by_code_point(store: RegistryStore) -> None:
    names = ["b", "ab", "a-c", "a.b", "a_b", "0x", "a"]
    for name in names:
        await store.add_version(version(name))
    await store.commit(serving("state-only", "1"))  # a state alone does not list a model
    assert await store.list_models() == sorted(names)


async def test_concurrent_numbering_gives_each_version_its_own_number(
    store: RegistryStore, other: RegistryStore
) -> None:
    adds = [(store if i % 2 else other).add_version(version()) for i in range(10)]
    added = await asyncio.gather(*adds)
    assert sorted(int(v.version) for v in added) == list(range(1, 11))
    assert [v.version for v in await store.list_versions("m")] == [str(n) for n in range(1, 11)]


# -- states ---------------------------------------------------------------------------------


async def test_a_model_without_a_state_is_at_revision_zero(store: RegistryStore) -> None:
    assert await store.state("m") == ModelState("m")
    assert await store.revisions() == {}
    assert await store.history("m") == []


async def test_commit_bumps_the_revision_and_keeps_the_state(store: RegistryStore) -> None:
    policy = RolloutPolicy(steps=(RolloutStep(weight=0.1, shadow=0.5, min_requests=20),))
    state = ModelState(
        "m",
        aliases={"production": "1", "canary": "2"},
        rollout=Rollout("2", policy, started_at=5.5, started_by="admin"),
        swap=Swap(to="3", requested_at=6.0, requested_by="admin", reason="hot fix"),
    )
    first = await store.commit(state)
    assert first.revision == 1
    assert await store.state("m") == first
    second = await store.commit(ModelState("m", aliases={"production": "2"}, revision=1))
    assert second.revision == 2
    assert await store.state("m") == second
    assert await store.revisions() == {"m": 2}


async def test_a_stale_commit_conflicts_and_changes_nothing(store: RegistryStore) -> None:
    current = await store.commit(serving("m", "1"), [event("m", "deploy")])
    for stale in (serving("m", "2"), serving("m", "2", revision=5)):
        with pytest.raises(Conflict, match="changed by someone else"):
            await store.commit(stale, [event("m", "lost")])
    assert await store.state("m") == current
    assert [e.action for e in await store.history("m")] == ["deploy"]


@pytest.mark.parametrize("start", [0, 3], ids=["first-commit", "later-commit"])
@pytest.mark.parametrize("across", [False, True], ids=["one-store", "two-stores"])
async def test_of_concurrent_commits_at_one_revision_one_wins(
    store: RegistryStore, other: RegistryStore, start: int, across: bool
) -> None:
    for n in range(start):
        await store.commit(serving("m", str(n), revision=n))
    for round_ in range(5):  # a few rounds, for a few interleavings
        base = await store.state("m")
        contenders = [
            (other if across and i else store).commit(
                serving("m", f"{round_}-{i}", revision=base.revision), [event("m", f"by {i}")]
            )
            for i in range(2)
        ]
        results = await asyncio.gather(*contenders, return_exceptions=True)
        won = [r for r in results if isinstance(r, ModelState)]
        lost = [r for r in results if isinstance(r, Conflict)]
        assert len(won) == 1 and len(lost) == 1, results
        assert won[0].revision == base.revision + 1
        assert await other.state("m") == won[0]
        last = (await store.history("m"))[-1]
        assert last.revision == won[0].revision
    assert len(await store.history("m")) == 5


# -- history --------------------------------------------------------------------------------


async def test_history_is_oldest_first_stamped_and_limited(store: RegistryStore) -> None:
    e1, e2, e3 = event("m", "deploy", 1.5), event("m", "canary", 2.5), event("m", "promote", 3.5)
    one = await store.commit(serving("m", "1"), [e1, e2])
    two = await store.commit(serving("m", "2", revision=one.revision), [e3])
    await store.commit(serving("m", "3", revision=two.revision))  # no events
    await store.commit(serving("other", "1"), [event("other", "deploy")])
    assert await store.history("m") == [stamped(e1, 1), stamped(e2, 1), stamped(e3, 2)]
    assert await store.history("m", limit=2) == [stamped(e2, 1), stamped(e3, 2)]
    assert await store.history("m", limit=0) == []
    assert [e.action for e in await store.history("other")] == ["deploy"]


async def test_revisions_name_every_model_with_a_state(store: RegistryStore) -> None:
    a = await store.commit(serving("a", "1"))
    await store.commit(serving("a", "2", revision=a.revision))
    await store.commit(serving("b", "1"))
    await store.add_version(version("c"))  # a version alone has no state
    assert await store.revisions() == {"a": 2, "b": 1}


async def test_a_store_opened_again_has_everything(backend: Backend) -> None:
    store = await backend.open()
    added = await store.add_version(version())
    state = await store.commit(serving("m", "1"), [event("m", "deploy")])
    await store.close()
    again = await backend.open()
    assert await again.list_versions("m") == [added]
    assert await again.state("m") == state
    assert len(await again.history("m")) == 1


# -- watching -------------------------------------------------------------------------------


async def test_a_watch_first_names_every_model_with_a_state(store: RegistryStore) -> None:
    async with watching(store) as changes:
        assert await next_change(changes) == set()
    await store.commit(serving("a", "1"))
    await store.commit(serving("b", "1"))
    async with watching(store) as changes:
        assert await next_change(changes) == {"a", "b"}


async def test_a_watch_hears_the_commits_of_another_store(
    store: RegistryStore, other: RegistryStore
) -> None:
    a = await store.commit(serving("a", "1"))
    await store.commit(serving("b", "1"))
    async with watching(other) as changes:
        assert await next_change(changes) == {"a", "b"}
        await store.commit(serving("a", "2", revision=a.revision))
        assert await next_change(changes) == {"a"}
        with pytest.raises(Conflict):
            await store.commit(serving("b", "2"))  # refused: nobody hears of it
        await store.commit(serving("c", "1"))
        assert await next_change(changes) == {"c"}


async def test_every_gateway_sees_an_alias_move_within_a_second(backend: Backend) -> None:
    admin, gateway = await backend.open(), await backend.open()
    state = await admin.commit(serving("m", "1"))
    async with watching(gateway) as changes:
        assert await next_change(changes) == {"m"}
        for stable in ("2", "3", "4"):
            started = time.monotonic()
            state = await admin.commit(serving("m", stable, revision=state.revision))
            assert await next_change(changes, timeout_s=1.0) == {"m"}
            seen_after_s = time.monotonic() - started
            assert seen_after_s < 1.0, f"{backend.kind}: seen after {seen_after_s:.3f} s"
            assert (await gateway.state("m")).stable == stable


# -- PostgreSQL alone -----------------------------------------------------------------------


@pytest.fixture
async def pg(pg_url: str, pg_schema: str) -> AsyncIterator[Backend]:
    backend = Backend("postgres", lambda: PostgresRegistryStore(pg_url, pg_schema))
    yield backend
    await backend.close()


async def applied_migrations(url: str, schema: str) -> list[int]:
    query = sql.SQL("SELECT version FROM {}.schema_migrations ORDER BY version").format(
        sql.Identifier(schema)
    )
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return [row[0] for row in await (await conn.execute(query)).fetchall()]


async def test_migrations_apply_once_when_opened_twice(
    pg: Backend, pg_url: str, pg_schema: str
) -> None:
    first = await pg.open()
    await first.add_version(version())
    await first.close()
    again = await pg.open()
    assert await applied_migrations(pg_url, pg_schema) == list(range(1, len(MIGRATIONS) + 1))
    assert [v.version for v in await again.list_versions("m")] == ["1"]


async def test_stores_opening_together_apply_migrations_once(
    pg: Backend, pg_url: str, pg_schema: str
) -> None:
    opened = await asyncio.gather(*(pg.open() for _ in range(6)), return_exceptions=True)
    stores = [store for store in opened if isinstance(store, PostgresRegistryStore)]
    assert len(stores) == 6, opened
    assert await applied_migrations(pg_url, pg_schema) == list(range(1, len(MIGRATIONS) + 1))
    await stores[0].add_version(version())
    assert [v.version for v in await stores[-1].list_versions("m")] == ["1"]


async def test_a_watch_hears_every_change_after_its_connection_drops(
    pg: Backend, pg_url: str, pg_schema: str
) -> None:
    admin, gateway = await pg.open(), await pg.open()
    state = await admin.commit(serving("m", "1"))
    async with watching(gateway) as changes:
        assert await next_change(changes) == {"m"}
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND query LIKE %s",
                (WATCH_APPLICATION_NAME, f"%{pg_schema}%"),
            )
            assert [row[0] for row in await cursor.fetchall()] == [True]
        # Committed while the watcher has no connection: it re-reads once it reconnects.
        state = await admin.commit(serving("m", "2", revision=state.revision))
        assert await change_of(changes, "m") == {"m"}
        await admin.commit(serving("m", "3", revision=state.revision))
        assert await next_change(changes, timeout_s=1.0) == {"m"}


async def test_a_watch_ends_when_its_store_closes(pg: Backend) -> None:
    store = await pg.open()
    changes = store.watch()
    assert await next_change(changes) == set()
    waiting = asyncio.ensure_future(anext(changes))
    await asyncio.sleep(0)  # let it start waiting for a notice
    await store.close()
    with pytest.raises(StopAsyncIteration):
        async with asyncio.timeout(WAIT_S):
            await waiting


async def test_a_long_schema_name_gets_a_channel_that_works(pg_url: str) -> None:
    schema = f"sstest_{uuid.uuid4().hex}".ljust(63, "x")
    backend = Backend("postgres", lambda: PostgresRegistryStore(pg_url, schema))
    try:
        admin, gateway = await backend.open(), await backend.open()
        async with watching(gateway) as changes:
            assert await next_change(changes) == set()
            await admin.commit(serving("m", "1"))
            assert await next_change(changes, timeout_s=1.0) == {"m"}
    finally:
        await backend.close()
        drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute(drop)


async def test_an_unreachable_server_is_a_config_error_naming_the_host() -> None:
    store = PostgresRegistryStore("postgresql://alice:s3cret-pw@127.0.0.1:1/registry")
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:1/registry") as raised:
        await store.open()
    assert "s3cret-pw" not in str(raised.value)


@pytest.mark.parametrize("schema", ["", "Upper", "1st", "a-b", "a;b", "pg_x", "x" * 64])
def test_a_bad_schema_name_is_refused(schema: str) -> None:
    with pytest.raises(ConfigError, match="not a schema name for the registry"):
        PostgresRegistryStore(PG_URL, schema)


def test_a_malformed_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="not a PostgreSQL URL") as raised:
        PostgresRegistryStore("postgresql://alice:s3cret-pw@host/db?bogus=1")
    assert "s3cret-pw" not in str(raised.value)
