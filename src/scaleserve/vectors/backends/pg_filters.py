"""A parsed filter as a PostgreSQL condition over a ``payload jsonb`` column.

Equality and membership are jsonb containment (``@>``), which the payload's GIN index
serves; ranges read the field as a number where it is one. Every leaf is true or false,
never NULL, so ``not`` means what it means in the embedded store (a point without the
field passes ``not {"year": {"gte": 2000}}``).
"""

from __future__ import annotations

import orjson
from psycopg import sql

from scaleserve.vectors import filters

_RANGE_SQL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def condition(tree: filters.Filter | None) -> sql.Composable:
    """``tree`` as SQL (``TRUE`` for no filter), with its values as literals."""
    if tree is None:
        return sql.SQL("TRUE")
    if isinstance(tree, filters.And | filters.Or):
        joiner = sql.SQL(" AND " if isinstance(tree, filters.And) else " OR ")
        return sql.SQL("({})").format(joiner.join(condition(c) for c in tree.children))
    if isinstance(tree, filters.Not):
        return sql.SQL("(NOT {})").format(condition(tree.child))
    if isinstance(tree, filters.Range):
        return _range(tree)
    values = [tree.value] if isinstance(tree, filters.Eq) else list(tree.values)
    contained = [_contains(tree.field, v) for v in values]
    return sql.SQL("({})").format(sql.SQL(" OR ").join(contained))


def _contains(field: str, value: filters.Scalar) -> sql.Composable:
    document = orjson.dumps({field: value}).decode()
    return sql.SQL("payload @> {}::jsonb").format(sql.Literal(document))


def _range(tree: filters.Range) -> sql.Composable:
    number = sql.SQL(
        "(CASE WHEN jsonb_typeof(payload -> {f}) = 'number' THEN (payload ->> {f})::float8 END)"
    ).format(f=sql.Literal(tree.field))
    parts = [
        sql.SQL("{} {} {}").format(number, sql.SQL(op_sql), sql.Literal(bound))
        for op, op_sql in _RANGE_SQL.items()
        if (bound := getattr(tree, op)) is not None
    ]
    return sql.SQL("COALESCE({}, FALSE)").format(sql.SQL(" AND ").join(parts))
