"""Ingestion of feature rows: checks naming row and field, latest event wins."""

from __future__ import annotations

from typing import Any

import pytest

from scaleserve.errors import InvalidInput
from scaleserve.features.ingest import ingest, parse_records
from tests.features.conftest import Store
from tests.features.views import USERS


async def test_rows_are_written_and_the_latest_event_of_each_feature_wins(store: Store) -> None:
    records: list[dict[str, Any]] = [
        {"user_id": "u1", "event_ts": 10, "age": 30, "country": "fr"},
        {"user_id": "u1", "event_ts": 20, "age": 31},  # a later event of age only
        {"user_id": "u1", "event_ts": 5, "age": 1, "country": "de", "is_member": True},
        {"user_id": 2, "event_ts": 7.5, "spend_30d": 3, "embedding": None},  # None: no value
    ]
    assert await ingest(store, "acme", USERS, records) == 4
    found = await store.read_many("acme", USERS, ["u1", "2"], now=20.0)
    assert found["u1"].values == {"age": 31, "country": "fr", "is_member": True}
    assert found["2"].values == {"spend_30d": 3.0}
    assert "embedding" in found["2"].missing


async def test_every_wrong_row_and_field_is_named_and_nothing_is_written(store: Store) -> None:
    records: list[dict[str, Any]] = [
        {"user_id": "u1", "event_ts": 1, "age": 30},
        {"user_id": "u2", "event_ts": 1, "age": "thirty", "height": 1.8},
        {"event_ts": 1, "age": 3},
        {"user_id": "u4", "age": 3},
        {"user_id": "u5", "event_ts": "yesterday", "embedding": [1, None]},
    ]
    with pytest.raises(InvalidInput) as caught:
        await ingest(store, "acme", USERS, records)
    assert [error["loc"] for error in caught.value.errors] == [
        [1, "age"],
        [1, "height"],
        [2, "user_id"],
        [3, "event_ts"],
        [4, "event_ts"],
        [4, "embedding"],
    ]
    assert str(caught.value) == (
        "row 1, field 'age': feature 'age' must be int, not 'thirty' (and 5 more)"
    )
    assert "view 'users' has no feature 'height'" in caught.value.errors[1]["msg"]
    found = await store.read_many("acme", USERS, ["u1"], now=1.0)
    assert found["u1"].values == {}


def test_rows_are_numbered_from_the_first_row_given() -> None:
    with pytest.raises(InvalidInput, match="row 1000, field 'age'"):
        parse_records(USERS, [{"user_id": "u", "event_ts": 1, "age": 1.5}], first_row=1000)
    latest, count = parse_records(USERS, [], first_row=1000)
    assert (latest, count) == ({}, 0)
