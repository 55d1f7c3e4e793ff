"""The types of payload fields, learnt from upserts and fixed from then on.

A field takes one type for the life of its collection: ``keyword`` (a string), ``number``
(an int or a float) or ``bool``. Other values (lists, objects, null) are stored and
returned but cannot be filtered on. An upsert that gives a field another type than it
has is refused (422) rather than making the filter's meaning depend on the point.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from scaleserve.errors import InvalidInput

MAX_FIELDS = 64


class FieldType(enum.StrEnum):
    KEYWORD = "keyword"
    NUMBER = "number"
    BOOL = "bool"


def type_of(value: Any) -> FieldType | None:
    """The filterable type of ``value``; ``None`` for what is stored only."""
    if isinstance(value, bool):
        return FieldType.BOOL
    if isinstance(value, int | float):
        return FieldType.NUMBER
    if isinstance(value, str):
        return FieldType.KEYWORD
    return None


def merged_types(
    known: Mapping[str, FieldType], payloads: Sequence[Mapping[str, Any]]
) -> dict[str, FieldType]:
    """``known`` with the fields ``payloads`` add; ``InvalidInput`` naming the point and
    field whose value contradicts the field's type."""
    types = dict(known)
    for index, payload in enumerate(payloads):
        for name, value in payload.items():
            found = type_of(value)
            if found is None:
                continue
            had = types.setdefault(name, found)
            if had is not found:
                raise InvalidInput(
                    f"points[{index}].payload.{name}: a {found.value}, but the field holds "
                    f"{had.value} values",
                    [_loc(index, name, f"expected {had.value}")],
                )
    if len(types) > MAX_FIELDS:
        raise InvalidInput(f"a collection's payloads may have at most {MAX_FIELDS} fields")
    return types


def _loc(index: int, name: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", "points", index, "payload", name], "msg": msg, "type": "type_error"}
