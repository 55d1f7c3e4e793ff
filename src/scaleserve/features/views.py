"""Feature views, declared in code: what a model may read about an entity.

A view names an entity key (``user_id``), its features and their types, and how long a
written value stays fresh (``ttl_s``). Values are checked against the view when written
(``check_values``), so a store never holds a value of the wrong type, and a view's
``defaults`` stand in for a feature that is missing or stale when it is joined.

    users = FeatureView(
        name="users",
        entity_key="user_id",
        features={"age": int, "spend_30d": float, "embedding": list[float]},
        ttl_s=86_400,
        defaults={"spend_30d": 0.0},
    )
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from scaleserve.errors import ConfigError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME_CHARS = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what every backend stores exactly

FeatureValue = int | float | str | bool | list[float]


class Kind(enum.StrEnum):
    """The type of a feature's values."""

    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    FLOAT_LIST = "list[float]"


PYTHON_TYPES: dict[Kind, type] = {
    Kind.INT: int,
    Kind.FLOAT: float,
    Kind.STR: str,
    Kind.BOOL: bool,
    Kind.FLOAT_LIST: list,
}
"""The type of a stored value of each kind (its own type, not a subclass's)."""

_KINDS: dict[object, Kind] = {
    int: Kind.INT,
    float: Kind.FLOAT,
    str: Kind.STR,
    bool: Kind.BOOL,
    list[float]: Kind.FLOAT_LIST,
}


@dataclass(frozen=True)
class FeatureView:
    """A named group of features of one kind of entity.

    ``features`` maps each feature name to ``int``, ``float``, ``str``, ``bool`` or
    ``list[float]``; ``ttl_s`` is how long a value stays fresh after its event time
    (``None``: forever); ``defaults`` optionally gives a value per feature for when it is
    missing or stale. A wrong declaration raises ``ConfigError`` at once.
    """

    name: str
    entity_key: str
    features: Mapping[str, object]
    ttl_s: float | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    kinds: Mapping[str, Kind] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_name(self.name, "a feature view")
        check_name(self.entity_key, f"the entity key of view {self.name!r}")
        if not self.features:
            raise ConfigError(f"feature view {self.name!r} declares no features")
        kinds = {name: _kind(self.name, name, kind) for name, kind in self.features.items()}
        object.__setattr__(self, "kinds", MappingProxyType(kinds))
        object.__setattr__(self, "features", MappingProxyType(dict(self.features)))
        object.__setattr__(self, "defaults", MappingProxyType(self._checked_defaults()))
        if self.ttl_s is not None and not (self.ttl_s > 0 and math.isfinite(self.ttl_s)):
            raise ConfigError(f"feature view {self.name!r}: ttl_s must be a positive number")

    def __hash__(self) -> int:
        return hash((self.name, self.entity_key))

    def check_values(self, values: Mapping[str, Any]) -> dict[str, FeatureValue]:
        """``values`` as stored: each checked against its feature's type (ints widened to
        floats where a float is declared). ``ValueError`` names the first wrong feature."""
        return {name: self.check_value(name, value) for name, value in values.items()}

    def check_value(self, feature: str, value: Any) -> FeatureValue:
        """One value of ``feature``, as stored; ``ValueError`` says what is wrong."""
        kind = self.kinds.get(feature)
        if kind is None:
            raise ValueError(f"view {self.name!r} has no feature {feature[:64]!r}")
        return coerce(kind, value, feature)

    def default(self, feature: str) -> FeatureValue | None:
        """A fresh copy of ``feature``'s default, or ``None`` when it has none."""
        value: FeatureValue | None = self.defaults.get(feature)
        return list(value) if isinstance(value, list) else value

    def _checked_defaults(self) -> dict[str, FeatureValue]:
        try:
            return self.check_values(self.defaults)
        except ValueError as exc:
            raise ConfigError(f"feature view {self.name!r}: a default is wrong: {exc}") from None


def check_name(name: object, what: str) -> str:
    """``name`` if it is a valid view, entity key or feature name, else ``ConfigError``."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_CHARS
        or NAME_PATTERN.fullmatch(name) is None
    ):
        raise ConfigError(
            f"{what} is named {name!r}: use 1 to {MAX_NAME_CHARS} of a-z, 0-9 and '_', "
            "starting with a letter"
        )
    return name


def coerce(kind: Kind, value: Any, feature: str) -> FeatureValue:
    """``value`` as a value of ``kind``; ``ValueError`` naming ``feature`` otherwise."""
    ok, stored = _COERCE[kind](value)
    checked: FeatureValue = stored
    if not ok:
        shown = repr(value)[:80]
        raise ValueError(f"feature {feature!r} must be {kind.value}, not {shown}")
    return checked


def _kind(view: str, feature: str, declared: object) -> Kind:
    check_name(feature, f"a feature of view {view!r}")
    try:
        kind = declared if isinstance(declared, Kind) else _KINDS.get(declared)
    except TypeError:  # an unhashable declaration
        kind = None
    if kind is None:
        raise ConfigError(
            f"feature {feature!r} of view {view!r} has type {declared!r}: "
            "use int, float, str, bool or list[float]"
        )
    return kind


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_int(value: Any) -> tuple[bool, Any]:
    ok = isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= INT_MAX
    return ok, value


def _as_float(value: Any) -> tuple[bool, Any]:
    if _number(value) and math.isfinite(value):
        return True, float(value)
    return False, None


def _as_str(value: Any) -> tuple[bool, Any]:
    return isinstance(value, str), value


def _as_bool(value: Any) -> tuple[bool, Any]:
    return isinstance(value, bool), value


def _as_float_list(value: Any) -> tuple[bool, Any]:
    if not isinstance(value, list | tuple):
        return False, None
    if not all(_number(x) and math.isfinite(x) for x in value):
        return False, None
    return True, [float(x) for x in value]


_COERCE = {
    Kind.INT: _as_int,
    Kind.FLOAT: _as_float,
    Kind.STR: _as_str,
    Kind.BOOL: _as_bool,
    Kind.FLOAT_LIST: _as_float_list,
}
