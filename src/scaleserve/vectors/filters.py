"""Metadata filters: parsed from JSON once, checked against the payload's field types.

The JSON form::

    {"lang": "en"}                                 equality (shorthand)
    {"lang": {"eq": "en"}}                         equality
    {"lang": {"in": ["en", "fr"]}}                 membership
    {"year": {"gte": 2000, "lt": 2010}}            a range (numbers)
    {"and": [F, ...]}, {"or": [F, ...]}, {"not": F}

Several keys in one object are all required. An unknown field, an operator that does not
fit the field's type, or a malformed node is an ``InvalidInput`` naming its JSON path
(``filter.and[1].year.gte``). Each backend runs the parsed tree its own way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scaleserve.errors import InvalidInput
from scaleserve.vectors.payload_types import FieldType, type_of

MAX_NODES = 256
MAX_IN_VALUES = 1024
RANGE_OPERATORS = ("gt", "gte", "lt", "lte")

Scalar = str | float | bool


@dataclass(frozen=True, slots=True)
class Eq:
    field: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class In:
    field: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Range:
    field: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Filter


Filter = Eq | In | Range | And | Or | Not


def parse(raw: Any, fields: Mapping[str, FieldType]) -> Filter | None:
    """The filter ``raw`` (JSON), checked against ``fields``; ``None`` for no filter."""
    if raw is None or raw == {}:
        return None
    parser = _Parser(fields)
    return parser.node(raw, ("filter",))


class _Parser:
    def __init__(self, fields: Mapping[str, FieldType]) -> None:
        self._fields = fields
        self._nodes = 0

    def node(self, raw: Any, path: tuple[str | int, ...]) -> Filter:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _invalid(path, f"a filter has at most {MAX_NODES} nodes")
        if not isinstance(raw, dict) or not raw:
            raise _invalid(path, "a filter is a non-empty object")
        parts = [self._entry(key, value, path) for key, value in raw.items()]
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _entry(self, key: str, value: Any, path: tuple[str | int, ...]) -> Filter:
        if key in ("and", "or"):
            if not isinstance(value, list) or not value:
                raise _invalid((*path, key), f"{key!r} takes a non-empty list of filters")
            children = tuple(self.node(c, (*path, key, i)) for i, c in enumerate(value))
            return And(children) if key == "and" else Or(children)
        if key == "not":
            return Not(self.node(value, (*path, key)))
        return self._condition(key, value, (*path, key))

    def _condition(self, name: str, raw: Any, path: tuple[str | int, ...]) -> Filter:
        kind = self._fields.get(name)
        if kind is None:
            raise _invalid(path, f"no point has a filterable field {name!r}")
        if not isinstance(raw, dict):
            return Eq(name, _scalar(raw, kind, path))
        if not raw:
            raise _invalid(path, "a condition needs an operator: eq, in, gt, gte, lt or lte")
        conditions: list[Filter] = []
        bounds: dict[str, float] = {}
        for op, operand in raw.items():
            at = (*path, op)
            if op == "eq":
                conditions.append(Eq(name, _scalar(operand, kind, at)))
            elif op == "in":
                conditions.append(In(name, _values(operand, kind, at)))
            elif op in RANGE_OPERATORS:
                if kind is not FieldType.NUMBER:
                    raise _invalid(at, f"{op!r} needs a number field; {name!r} is {kind.value}")
                bounds[op] = float(_scalar(operand, kind, at))
            else:
                raise _invalid(at, f"unknown operator {op!r}: eq, in, gt, gte, lt or lte")
        if bounds:
            conditions.append(Range(name, **bounds))
        return conditions[0] if len(conditions) == 1 else And(tuple(conditions))


def _scalar(raw: Any, kind: FieldType, path: tuple[str | int, ...]) -> Scalar:
    found = type_of(raw)
    if found is not kind:
        got = found.value if found else type(raw).__name__
        raise _invalid(path, f"expected a {kind.value} value, got {got}")
    return float(raw) if kind is FieldType.NUMBER else raw


def _values(raw: Any, kind: FieldType, path: tuple[str | int, ...]) -> tuple[Scalar, ...]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_IN_VALUES:
        raise _invalid(path, f"'in' takes a list of 1..{MAX_IN_VALUES} values")
    return tuple(_scalar(v, kind, (*path, i)) for i, v in enumerate(raw))


def _invalid(path: tuple[str | int, ...], message: str) -> InvalidInput:
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return InvalidInput(
        f"{dotted}: {message}", [{"loc": ["body", *path], "msg": message, "type": "value"}]
    )


def fields_of(tree: Filter | None) -> set[str]:
    """The payload fields ``tree`` reads."""
    if tree is None:
        return set()
    if isinstance(tree, And | Or):
        return set().union(*(fields_of(c) for c in tree.children))
    if isinstance(tree, Not):
        return fields_of(tree.child)
    return {tree.field}
