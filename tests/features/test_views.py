"""Feature views are checked when declared."""

from __future__ import annotations

import pytest

from scaleserve.errors import ConfigError
from scaleserve.features.views import FeatureView, Kind
from tests.features.views import USERS


def view(**changes: object) -> FeatureView:
    declared: dict[str, object] = {
        "name": "users",
        "entity_key": "user_id",
        "features": {"age": int},
        "ttl_s": 60.0,
    }
    return FeatureView(**(declared | changes))  # type: ignore[arg-type]


def test_a_view_knows_its_feature_types() -> None:
    assert dict(USERS.kinds) == {
        "age": Kind.INT,
        "spend_30d": Kind.FLOAT,
        "country": Kind.STR,
        "is_member": Kind.BOOL,
        "embedding": Kind.FLOAT_LIST,
    }
    assert USERS.default("spend_30d") == 0.0
    assert USERS.default("age") is None


def test_defaults_are_checked_and_copied() -> None:
    declared = view(features={"e": list[float], "x": float}, defaults={"e": [1, 2], "x": 3})
    assert declared.defaults == {"e": [1.0, 2.0], "x": 3.0}
    first = declared.default("e")
    assert isinstance(first, list)
    first.append(9.0)
    assert declared.default("e") == [1.0, 2.0]


def test_a_view_cannot_be_changed_after_declaration() -> None:
    with pytest.raises(AttributeError):
        USERS.ttl_s = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        USERS.features["height"] = float  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": "Users"}, "a feature view is named 'Users'"),
        ({"name": "1users"}, "a feature view is named"),
        ({"name": "users:x"}, "a feature view is named"),
        ({"name": "u" * 65}, "a feature view is named"),
        ({"entity_key": "user-id"}, "the entity key of view 'users' is named"),
        ({"features": {}}, "declares no features"),
        ({"features": {"Age": int}}, "a feature of view 'users' is named 'Age'"),
        ({"features": {"age": dict}}, "has type <class 'dict'>: use int, float"),
        ({"features": {"age": list[int]}}, "has type list\\[int\\]"),
        ({"features": {"age": [float]}}, "has type \\[<class 'float'>\\]"),
        ({"ttl_s": 0}, "ttl_s must be a positive number"),
        ({"ttl_s": float("inf")}, "ttl_s must be a positive number"),
        ({"defaults": {"age": "old"}}, "a default is wrong: feature 'age' must be int"),
        ({"defaults": {"height": 1.0}}, "a default is wrong: view 'users' has no feature"),
    ],
)
def test_wrong_declarations_are_refused(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        view(**changes)
