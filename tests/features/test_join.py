"""The join of a model's declared features into a batch, on every backend."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from scaleserve.errors import ConfigError, InvalidInput
from scaleserve.features.join import FeatureNeed, FeatureUnavailable, join_batch, join_items
from scaleserve.features.store import (
    DelegatingFeatureStore,
    EntityFeatures,
    EntityRow,
    FeatureStore,
)
from scaleserve.features.views import FeatureView
from tests.features.conftest import Backing, Store
from tests.features.views import FULL_ROW, ITEMS, USERS

NEEDS = [FeatureNeed(USERS, features=("age", "spend_30d", "is_member"))]


class CountingStore(DelegatingFeatureStore):
    """A store that counts the reads it is asked for."""

    def __init__(self, store: FeatureStore) -> None:
        super().__init__(store)
        self.reads: list[tuple[str, list[str]]] = []

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        self.reads.append((view.name, list(entity_ids)))
        return await self.store.read_many(tenant, view, entity_ids, now)


async def test_a_batch_gets_its_features_in_one_read(store: Store, backing: Backing) -> None:
    rows = {f"u{n}": EntityRow({**FULL_ROW, "age": n}, 100.0) for n in range(32)}
    await store.write_many("acme", USERS, rows)
    counting = CountingStore(store)
    items = [{"user_id": f"u{n % 32}", "text": f"t{n}"} for n in range(40)]
    before = backing.round_trips()
    joined = await join_items(counting, NEEDS, items, "acme", now=110.0)
    if backing.kind != "memory":
        assert backing.round_trips() - before == 1
    assert counting.reads == [("users", [f"u{n % 32}" for n in range(40)])]
    assert joined[33] == {
        "user_id": "u1",
        "text": "t33",
        "age": 1,
        "spend_30d": 12.5,
        "is_member": True,
    }
    assert items[33] == {"user_id": "u1", "text": "t33"}  # the inputs are left as they were


async def test_missing_and_stale_features_take_the_views_defaults(store: Store) -> None:
    await store.write_many("acme", USERS, {"old": EntityRow(FULL_ROW, 0.0)})
    await store.write_many("acme", USERS, {"new": EntityRow({"age": 5}, 100.0)})
    items = [{"user_id": "new"}, {"user_id": "old"}]
    needs = [FeatureNeed(USERS, features=("spend_30d", "is_member"))]
    joined = await join_items(store, needs, items, "acme", now=100.0)
    assert joined == [
        {"user_id": "new", "spend_30d": 0.0, "is_member": False},  # missing: defaults
        {"user_id": "old", "spend_30d": 0.0, "is_member": False},  # stale: defaults
    ]


async def test_a_feature_without_default_fails_its_item_naming_it(store: Store) -> None:
    await store.write_many("acme", USERS, {"fresh": EntityRow({"age": 5}, 100.0)})
    await store.write_many("acme", USERS, {"old": EntityRow({"age": 6}, 10.0)})
    items = [{"user_id": "fresh"}, {"user_id": "ghost"}, {"user_id": "old"}]
    joined = await join_batch(store, NEEDS, items, "acme", now=100.0)
    assert joined[0] == {"user_id": "fresh", "age": 5, "spend_30d": 0.0, "is_member": False}
    missing, stale = joined[1], joined[2]
    assert isinstance(missing, FeatureUnavailable) and isinstance(stale, FeatureUnavailable)
    assert str(missing) == (
        "feature 'age' of view 'users' is missing for entity 'ghost' and has no default"
    )
    assert (missing.view, missing.entity_id, missing.feature) == ("users", "ghost", "age")
    assert "is stale for entity 'old'" in str(stale)
    assert stale.errors == [{"loc": ["age"], "msg": str(stale), "type": "feature_stale"}]
    with pytest.raises(FeatureUnavailable, match="entity 'ghost'"):
        await join_items(store, NEEDS, items, "acme", now=100.0)


@pytest.mark.parametrize("entity", [None, "", True, 1.5, ["u1"], "x" * 257])
async def test_an_item_without_a_valid_entity_id_fails_alone(store: Store, entity: object) -> None:
    await store.write_many("acme", USERS, {"7": EntityRow({"age": 7}, 1.0)})
    joined = await join_batch(store, NEEDS, [{"user_id": entity}, {"user_id": 7}], "acme", 1.0)
    assert isinstance(joined[0], InvalidInput)
    assert "field 'user_id' must hold an entity id" in str(joined[0])
    assert joined[1] == {"user_id": 7, "age": 7, "spend_30d": 0.0, "is_member": False}


async def test_stored_features_replace_what_the_client_sent(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 30}, 1.0)})
    joined = await join_items(store, NEEDS, [{"user_id": "u1", "age": 99}], "acme", 1.0)
    assert joined[0]["age"] == 30


async def test_the_join_reads_the_callers_tenant_only(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 30}, 1.0)})
    joined = await join_batch(store, NEEDS, [{"user_id": "u1"}], "globex", 1.0)
    assert isinstance(joined[0], FeatureUnavailable)


async def test_several_views_one_read_each(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 30}, 1.0)})
    await store.write_many("acme", ITEMS, {"i1": EntityRow({"price": 2.5, "age": 3}, 1.0)})
    needs = [
        FeatureNeed(USERS, features=("age",)),
        FeatureNeed(ITEMS, entity_field="product", prefix="item_"),
    ]
    counting = CountingStore(store)
    items = [{"user_id": "u1", "product": "i1"}, {"user_id": "u1", "product": "i1"}]
    joined = await join_items(counting, needs, items, "acme", 1.0)
    assert sorted(name for name, _ in counting.reads) == ["items", "users"]
    assert joined[0] == {
        "user_id": "u1",
        "product": "i1",
        "age": 30,
        "item_price": 2.5,
        "item_age": 3,
    }


async def test_an_empty_batch_reads_nothing(store: Store) -> None:
    counting = CountingStore(store)
    assert await join_batch(counting, NEEDS, [], "acme", 1.0) == []
    assert counting.reads == []


def test_a_need_is_checked_when_declared() -> None:
    assert FeatureNeed(USERS).features == tuple(USERS.kinds)
    assert FeatureNeed(USERS).entity_field == "user_id"
    with pytest.raises(ConfigError, match="view 'users' has no feature 'height'"):
        FeatureNeed(USERS, features=("height",))
    with pytest.raises(ConfigError, match="the entity field"):
        FeatureNeed(USERS, entity_field="User")
    with pytest.raises(ConfigError, match="the prefix"):
        FeatureNeed(USERS, prefix="X-")
