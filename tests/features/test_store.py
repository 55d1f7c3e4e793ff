"""The feature store on every backend: values, freshness, latest wins, tenants, checks."""

from __future__ import annotations

import pytest

from scaleserve.errors import InvalidInput, RequestError
from scaleserve.features.store import EntityFeatures, EntityRow
from scaleserve.features.views import INT_MAX, INT_MIN, FeatureView
from tests.features.conftest import Backing, Store
from tests.features.views import FULL_ROW, ITEMS, USERS

ALL_USERS = frozenset(USERS.kinds)


async def test_values_round_trip_with_their_types(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow(FULL_ROW, 100.0)})
    found = await store.read_many("acme", USERS, ["u1"], now=100.0)
    assert found == {"u1": EntityFeatures(FULL_ROW)}
    values = found["u1"].values
    assert type(values["age"]) is int and type(values["is_member"]) is bool
    assert type(values["spend_30d"]) is float


async def test_extreme_ints_and_widened_floats_round_trip(store: Store) -> None:
    rows = {
        "lo": EntityRow({"age": INT_MIN, "spend_30d": 3}, 1.0),
        "hi": EntityRow({"age": INT_MAX, "embedding": [1, 2]}, 1.0),
    }
    await store.write_many("acme", USERS, rows)
    found = await store.read_many("acme", USERS, ["lo", "hi"], now=1.0)
    assert found["lo"].values == {"age": INT_MIN, "spend_30d": 3.0}
    assert type(found["lo"].values["spend_30d"]) is float
    assert found["hi"].values == {"age": INT_MAX, "embedding": [1.0, 2.0]}


async def test_unknown_entities_have_every_feature_missing(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 7}, 1.0)})
    found = await store.read_many("acme", USERS, ["u1", "nobody", "u1"], now=1.0)
    assert list(found) == ["u1", "nobody"]
    assert found["nobody"] == EntityFeatures({}, missing=ALL_USERS)
    assert found["u1"] == EntityFeatures({"age": 7}, missing=ALL_USERS - {"age"})
    assert await store.read_many("acme", USERS, [], now=1.0) == {}


async def test_a_value_is_stale_once_older_than_the_ttl(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 7}, 100.0)})
    await store.write_many("acme", USERS, {"u1": EntityRow({"country": "fr"}, 130.0)})
    fresh = await store.read_many("acme", USERS, ["u1"], now=160.0)  # exactly the ttl
    assert fresh["u1"].values == {"age": 7, "country": "fr"}
    assert fresh["u1"].stale == frozenset()
    later = (await store.read_many("acme", USERS, ["u1"], now=160.5))["u1"]
    assert later.values == {"country": "fr"}
    assert later.stale == {"age"}
    assert later.missing == ALL_USERS - {"age", "country"}
    unbounded = ITEMS  # ttl_s=None
    await store.write_many("acme", unbounded, {"i1": EntityRow({"price": 1.5}, 0.0)})
    found = await store.read_many("acme", unbounded, ["i1"], now=1e12)
    assert found["i1"].values == {"price": 1.5}


async def test_an_older_event_never_replaces_a_newer_value(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 30, "country": "fr"}, 200.0)})
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 29, "is_member": True}, 150.0)})
    await store.write_many("acme", USERS, {"u1": EntityRow({"country": "de"}, 200.0)})  # a tie
    found = await store.read_many("acme", USERS, ["u1"], now=200.0)
    assert found["u1"].values == {"age": 30, "country": "de", "is_member": True}


async def test_a_tenant_never_reads_another_tenants_features(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 1}, 1.0)})
    await store.write_many("globex", USERS, {"u1": EntityRow({"age": 2}, 1.0)})
    await store.write_many("globex", USERS, {"u2": EntityRow({"age": 3}, 1.0)})
    acme = await store.read_many("acme", USERS, ["u1", "u2"], now=1.0)
    assert acme["u1"].values == {"age": 1}
    assert acme["u2"] == EntityFeatures({}, missing=ALL_USERS)
    globex = await store.read_many("globex", USERS, ["u1"], now=1.0)
    assert globex["u1"].values == {"age": 2}


async def test_a_value_of_a_features_former_type_counts_as_missing(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"age": 7, "country": "fr"}, 1.0)})
    changed = FeatureView(name="users", entity_key="user_id", features={"age": str, "country": str})
    found = await store.read_many("acme", changed, ["u1"], now=1.0)
    assert found["u1"] == EntityFeatures({"country": "fr"}, missing=frozenset({"age"}))


async def test_views_do_not_share_values(store: Store) -> None:
    await store.write_many("acme", USERS, {"x": EntityRow({"age": 5}, 1.0)})
    found = await store.read_many("acme", ITEMS, ["x"], now=1.0)
    assert found["x"].values == {}


@pytest.mark.parametrize("tenant", ["", "Acme", "a:b", "acme\n", "../x"])
async def test_invalid_tenant_names_are_refused(store: Store, tenant: str) -> None:
    with pytest.raises(RequestError, match="invalid tenant name"):
        await store.write_many(tenant, USERS, {"u1": EntityRow({"age": 1}, 1.0)})
    with pytest.raises(RequestError, match="invalid tenant name"):
        await store.read_many(tenant, USERS, ["u1"], now=1.0)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"age": "7"}, "feature 'age' must be int, not '7'"),
        ({"age": True}, "feature 'age' must be int"),
        ({"age": 1.5}, "feature 'age' must be int"),
        ({"age": 2**63}, "feature 'age' must be int"),
        ({"spend_30d": float("nan")}, "feature 'spend_30d' must be float"),
        ({"is_member": 1}, "feature 'is_member' must be bool"),
        ({"country": 3}, "feature 'country' must be str"),
        ({"embedding": [1.0, "x"]}, r"feature 'embedding' must be list\[float\]"),
        ({"embedding": 1.0}, r"feature 'embedding' must be list\[float\]"),
        ({"height": 1.8}, "view 'users' has no feature 'height'"),
    ],
)
async def test_wrong_values_are_refused_naming_entity_and_feature(
    store: Store, values: dict[str, object], match: str
) -> None:
    rows = {"ok": EntityRow({"age": 1}, 1.0), "bad": EntityRow(values, 1.0)}  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=f"entity 'bad' of view 'users': {match}"):
        await store.write_many("acme", USERS, rows)
    found = await store.read_many("acme", USERS, ["ok"], now=1.0)
    assert found["ok"].values == {}  # nothing of the call was written


@pytest.mark.parametrize("entity_id", ["", "x" * 257])
async def test_invalid_entity_ids_are_refused(store: Store, entity_id: str) -> None:
    with pytest.raises(InvalidInput, match="entity id"):
        await store.write_many("acme", USERS, {entity_id: EntityRow({"age": 1}, 1.0)})
    with pytest.raises(InvalidInput, match="entity id"):
        await store.read_many("acme", USERS, [entity_id], now=1.0)


async def test_a_non_finite_event_time_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="event time"):
        await store.write_many("acme", USERS, {"u1": EntityRow({"age": 1}, float("inf"))})


async def test_a_changed_list_read_does_not_change_the_store(store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow({"embedding": [1.0]}, 1.0)})
    first = await store.read_many("acme", USERS, ["u1"], now=1.0)
    embedding = first["u1"].values["embedding"]
    assert isinstance(embedding, list)
    embedding.append(2.0)
    again = await store.read_many("acme", USERS, ["u1"], now=1.0)
    assert again["u1"].values["embedding"] == [1.0]


async def test_a_read_of_32_entities_is_one_round_trip(backing: Backing, store: Store) -> None:
    if backing.kind == "memory":
        pytest.skip("the memory store has no engine to go to")
    ids = [f"user-{n}" for n in range(32)]
    await store.write_many("acme", USERS, {i: EntityRow(FULL_ROW, 1.0) for i in ids[::2]})
    await store.read_many("acme", USERS, ids[:1], now=1.0)  # connected, scripts loaded
    before = backing.round_trips()
    found = await store.read_many("acme", USERS, ids, now=1.0)
    assert backing.round_trips() - before == 1
    assert sum(1 for f in found.values() if f.values == FULL_ROW) == 16


async def test_a_second_store_sees_what_the_first_wrote(backing: Backing, store: Store) -> None:
    await store.write_many("acme", USERS, {"u1": EntityRow(FULL_ROW, 5.0)})
    await store.close()
    other = await backing.open()
    assert (await other.read_many("acme", USERS, ["u1"], now=5.0))["u1"].values == FULL_ROW
