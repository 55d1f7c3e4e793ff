"""Reading features from a real local Feast repository, as a team that runs Feast has one.

The test writes a Parquet file, a ``feature_store.yaml`` (SQLite online store, file offline
store) and a definitions file, then runs ``feast apply`` and ``feast materialize`` from this
environment's ``bin``, as a user would, and reads through ``FeastFeatureStore`` and the join.
Skipped without Feast installed (``pip install 'scaleserve[feast]'``), except in CI.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from scaleserve.errors import ConfigError, RequestError
from scaleserve.features.join import FeatureNeed, FeatureUnavailable, join_items
from scaleserve.features.store import EntityRow, FeatureStore
from scaleserve.features.views import FeatureView

if TYPE_CHECKING:
    from scaleserve.features.backends.feast import FeastFeatureStore

NOW = time.time()
HOUR_S = 3600.0

USERS = FeatureView(
    name="users",
    entity_key="user_id",
    features={
        "age": int,
        "spend_30d": float,
        "country": str,
        "is_member": bool,
        "embedding": list[float],
    },
    ttl_s=HOUR_S,
    defaults={"spend_30d": 0.0, "is_member": False},
)
ITEMS = FeatureView(name="items", entity_key="item_id", features={"price": float})

FEATURE_STORE_YAML = """\
project: scaleserve_test
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

DEFINITIONS = """\
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Array, Bool, Float64, Int64, String
from feast.value_type import ValueType

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING)

users = FeatureView(
    name="users",
    entities=[user],
    ttl=timedelta(days=30),
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="age", dtype=Int64),
        Field(name="spend_30d", dtype=Float64),
        Field(name="country", dtype=String),
        Field(name="is_member", dtype=Bool),
        Field(name="embedding", dtype=Array(Float64)),
    ],
    source=FileSource(path="data/users.parquet", timestamp_field="event_timestamp"),
)
items = FeatureView(
    name="items",
    entities=[item],
    ttl=timedelta(days=30),
    schema=[Field(name="item_id", dtype=String), Field(name="price", dtype=Float64)],
    source=FileSource(path="data/items.parquet", timestamp_field="event_timestamp"),
)
"""


def _at(age_s: float) -> datetime:
    return datetime.fromtimestamp(int(NOW - age_s), tz=UTC)


def _write_sources(data: Path) -> None:
    import pandas as pd

    users = pd.DataFrame(
        {
            "user_id": [1001, 1002, 1003, 1004, 1004],
            "age": pd.array([42, None, 30, 20, 21], dtype="Int64"),
            "spend_30d": [12.5, None, 7.0, 1.0, 2.0],
            "country": ["IS", "FR", "DE", "NO", "SE"],
            "is_member": [True, False, True, False, True],
            "embedding": [[0.25, -1.0, 3.0], [1.0], [2.0], [3.0], [4.0]],
            # 1003 was last seen two days ago (stale for the view's hour); 1004 twice
            "event_timestamp": [_at(60), _at(120), _at(2 * 86_400), _at(600), _at(300)],
        }
    )
    users.to_parquet(data / "users.parquet")
    items = pd.DataFrame(
        {"item_id": ["sku-1", "sku-2"], "price": [9.5, 20.0], "event_timestamp": [_at(60)] * 2}
    )
    items.to_parquet(data / "items.parquet")


def _feast(repo: Path, *args: str) -> None:
    """The ``feast`` command of this environment, run in the repository as a user would."""
    command = [str(Path(sys.executable).parent / "feast"), *args]
    done = subprocess.run(
        command, check=False, cwd=repo, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise AssertionError(f"feast {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module")
def feast_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Feast repository, applied and materialised into its SQLite online store."""
    if importlib.util.find_spec("feast") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("feast is not installed (CI must run the Feast tests)")
        pytest.skip("feast is not installed: pip install 'scaleserve[feast]'")
    repo = tmp_path_factory.mktemp("feast") / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    (repo / "definitions.py").write_text(DEFINITIONS)
    _write_sources(repo / "data")
    _feast(repo, "apply")
    start, end = _at(10 * 86_400).isoformat(), _at(-60).isoformat()
    _feast(repo, "materialize", start, end)
    return repo


@pytest.fixture
async def feast_store(feast_repo: Path) -> AsyncIterator[FeastFeatureStore]:
    from scaleserve.features.backends.feast import FeastFeatureStore

    store = FeastFeatureStore(feast_repo)
    await store.open()
    yield store
    await store.close()


async def test_reads_values_missing_and_stale(feast_store: FeastFeatureStore) -> None:
    store: FeatureStore = feast_store  # the Protocol, as the join sees it
    ids = ["1001", "1002", "1003", "1004", "9999", "not-a-number"]
    found = await store.read_many("default", USERS, ids, NOW)
    assert set(found) == set(ids)
    assert dict(found["1001"].values) == {
        "age": 42,
        "spend_30d": 12.5,
        "country": "IS",
        "is_member": True,
        "embedding": [0.25, -1.0, 3.0],
    }
    assert not found["1001"].missing and not found["1001"].stale
    assert found["1002"].missing == {"age", "spend_30d"}
    assert found["1002"].values["country"] == "FR"
    assert found["1003"].stale == set(USERS.kinds) and not found["1003"].values
    assert found["1004"].values["country"] == "SE"  # the latest row
    for unknown in ("9999", "not-a-number"):
        assert found[unknown].missing == set(USERS.kinds) and not found[unknown].values


async def test_staleness_follows_the_view_ttl(feast_store: FeastFeatureStore) -> None:
    long_lived = FeatureView(
        name="users", entity_key="user_id", features={"age": int}, ttl_s=3 * 86_400.0
    )
    found = await feast_store.read_many("default", long_lived, ["1003"], NOW)
    assert dict(found["1003"].values) == {"age": 30}
    later = await feast_store.read_many("default", long_lived, ["1003"], NOW + 86_400)
    assert later["1003"].stale == {"age"}


async def test_string_join_keys(feast_store: FeastFeatureStore) -> None:
    found = await feast_store.read_many("default", ITEMS, ["sku-2", "sku-9"], NOW)
    assert dict(found["sku-2"].values) == {"price": 20.0}
    assert found["sku-9"].missing == {"price"}


async def test_join_fills_features_and_defaults(feast_store: FeastFeatureStore) -> None:
    needs = [FeatureNeed(USERS, features=("spend_30d", "is_member", "country"))]
    items: list[dict[str, Any]] = [{"user_id": 1001}, {"user_id": "1002", "spend_30d": 99.0}]
    joined = await join_items(feast_store, needs, items, "default", NOW)
    assert joined == [
        {"user_id": 1001, "spend_30d": 12.5, "is_member": True, "country": "IS"},
        {"user_id": "1002", "spend_30d": 0.0, "is_member": False, "country": "FR"},
    ]
    defaults_only = [FeatureNeed(USERS, features=("spend_30d", "is_member"), prefix="f_")]
    joined = await join_items(feast_store, defaults_only, [{"user_id": 9999}], "default", NOW)
    assert joined == [{"user_id": 9999, "f_spend_30d": 0.0, "f_is_member": False}]


async def test_join_names_a_missing_or_stale_feature(feast_store: FeastFeatureStore) -> None:
    needs = [FeatureNeed(USERS)]
    with pytest.raises(FeatureUnavailable) as missing:
        await join_items(feast_store, needs, [{"user_id": 1002}], "default", NOW)
    assert (missing.value.entity_id, missing.value.feature) == ("1002", "age")
    with pytest.raises(FeatureUnavailable, match="stale") as stale:
        await join_items(feast_store, needs, [{"user_id": 1003}], "default", NOW)
    assert stale.value.feature == "age"


async def test_serves_one_tenant_and_is_not_written(feast_store: FeastFeatureStore) -> None:
    with pytest.raises(RequestError, match="serves tenant 'default' only"):
        await feast_store.read_many("acme", USERS, ["1001"], NOW)
    row = EntityRow({"age": 1}, NOW)
    with pytest.raises(RequestError, match="feast materialize"):
        await feast_store.write_many("default", USERS, {"1001": row})


async def test_a_view_feast_does_not_have(feast_store: FeastFeatureStore) -> None:
    unknown = FeatureView(name="sessions", entity_key="user_id", features={"n": int})
    with pytest.raises(ConfigError, match="no feature view 'sessions'"):
        await feast_store.read_many("default", unknown, ["1001"], NOW)
    lacking = FeatureView(name="users", entity_key="user_id", features={"height": float})
    with pytest.raises(ConfigError, match="no feature 'height'"):
        await feast_store.read_many("default", lacking, ["1001"], NOW)


async def test_refuses_a_folder_without_a_repository(tmp_path: Path, feast_repo: Path) -> None:
    from scaleserve.features.backends.feast import FeastFeatureStore

    with pytest.raises(ConfigError, match=r"no feature_store\.yaml"):
        await FeastFeatureStore(tmp_path).open()
