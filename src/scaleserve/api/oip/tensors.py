"""A model's items seen as named tensors, derived from its declared types.

The first dimension of every tensor is the batch: row ``i`` of each tensor belongs to item
``i``. An item that is a record (a pydantic model) is one tensor per field, named after the
field; any other item is one tensor, ``input`` (or ``output``). Per item type:

    str (and string enums)             BYTES  [-1]      UTF-8 text
    int / float / bool                 INT64 / FP32 / BOOL  [-1]
    list of numbers (fixed length n)   FP32 / INT64 / BOOL  [-1, n]   (-1 when not fixed)
    list of lists of numbers           ... [-1, n, m]
    Any                                BYTES  [-1]      text as is; other outputs as JSON
    anything else                      BYTES  [-1]      each element one JSON document
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

VARIABLE = -1
_SCALARS = {"string": "BYTES", "integer": "INT64", "number": "FP32", "boolean": "BOOL"}


class Form(enum.Enum):
    """How one element of a tensor maps to (part of) an item."""

    VALUE = "value"  # a number, a bool, or text
    TEXT = "text"  # BYTES holding text as is, for untyped (Any) items
    JSON = "json"  # BYTES holding one JSON document per item


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    item_shape: tuple[int, ...]  # the dims of one item's part; () for a scalar
    form: Form = Form.VALUE
    required: bool = True

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": [VARIABLE, *self.item_shape]}


@dataclass(frozen=True)
class Signature:
    """The tensors of one side (inputs or outputs) of a model. ``record``: items are
    objects with one field per tensor; otherwise each item is the one tensor's row."""

    tensors: tuple[TensorSpec, ...]
    record: bool

    def by_name(self) -> dict[str, TensorSpec]:
        return {t.name: t for t in self.tensors}


def signature(hint: Any, default_name: str) -> Signature:
    """The tensors that carry items of type ``hint``."""
    try:
        schema = TypeAdapter(hint).json_schema()
    except Exception:  # a type pydantic cannot describe still travels, as JSON
        return Signature((TensorSpec(default_name, "BYTES", (), Form.JSON),), record=False)
    defs = schema.get("$defs", {})
    schema = _resolve(schema, defs)
    properties = schema.get("properties")
    if schema.get("type") == "object" and properties:
        required = set(schema.get("required", ()))
        tensors = tuple(
            _tensor(name, _resolve(field, defs), required=name in required)
            for name, field in properties.items()
        )
        return Signature(tensors, record=True)
    return Signature((_tensor(default_name, schema, required=True),), record=False)


def _tensor(name: str, schema: dict[str, Any], *, required: bool) -> TensorSpec:
    if not schema:
        return TensorSpec(name, "BYTES", (), Form.TEXT, required)
    datatype, shape = _numeric(_without_null(schema))
    if datatype is None:
        return TensorSpec(name, "BYTES", (), Form.JSON, required)
    return TensorSpec(name, datatype, shape, Form.VALUE, required)


def _numeric(schema: dict[str, Any]) -> tuple[str | None, tuple[int, ...]]:
    """The datatype and item shape of a scalar or a (nested) list of scalars."""
    kind = schema.get("type")
    if kind in _SCALARS:
        return _SCALARS[kind], ()
    if kind != "array" or "items" not in schema or "prefixItems" in schema:
        return None, ()
    datatype, inner = _numeric(_without_null(schema["items"]))
    if datatype is None or (datatype == "BYTES" and inner):
        return None, ()
    fixed = schema.get("minItems") is not None and schema.get("minItems") == schema.get("maxItems")
    return datatype, (schema["minItems"] if fixed else VARIABLE, *inner)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as ``X``: a missing element is not something a tensor can say."""
    options = schema.get("anyOf")
    if options:
        kept: list[dict[str, Any]] = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            return kept[0]
    return schema


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: dict[str, Any] = defs.get(ref.removeprefix("#/$defs/"), {})
        return resolved
    return schema
