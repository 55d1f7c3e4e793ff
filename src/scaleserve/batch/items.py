"""Which columns of a row make a model's input item.

``--column C`` sends the value of ``C``. Without it, a model whose input is an object (a
pydantic model, a TypedDict, a dataclass) takes the columns named as its fields; any other
model takes the file's only column, or its column named ``input``. A model whose type is
not known here (on a server) takes those, or else every column but the keys, as an object.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from scaleserve.batch.files import InputFileError

DEFAULT_COLUMN = "input"


@dataclass(frozen=True)
class ItemColumns:
    """How to turn a row into an item: one column's value, or several columns as an object."""

    columns: tuple[str, ...]
    as_object: bool

    def item(self, row: dict[str, Any]) -> Any:
        if self.as_object:
            return {name: row[name] for name in self.columns if row.get(name) is not None}
        return row[self.columns[0]]


UNKNOWN_TYPE: Any = object()
"""The input type of a model served elsewhere."""


def item_columns(
    input_type: Any,
    column: str | None,
    available: Sequence[str],
    file: str,
    keys: Sequence[str] = (),
) -> ItemColumns:
    """The columns feeding ``input_type``; an error naming the file and what is missing."""
    if column is not None:
        _require(file, [column], available)
        return ItemColumns((column,), as_object=False)
    fields = object_fields(input_type)
    if fields is not None:
        required = [name for name, needed in fields.items() if needed]
        _require(file, required, available)
        return ItemColumns(tuple(name for name in fields if name in available), as_object=True)
    if len(available) == 1:
        return ItemColumns((available[0],), as_object=False)
    if DEFAULT_COLUMN in available:
        return ItemColumns((DEFAULT_COLUMN,), as_object=False)
    if input_type is UNKNOWN_TYPE:
        return ItemColumns(tuple(c for c in available if c not in keys), as_object=True)
    raise InputFileError(
        f"{file}: pass --column to say which column is the model's input; its columns are "
        f"{', '.join(available)}"
    )


def object_fields(input_type: Any) -> dict[str, bool] | None:
    """Field name -> required, for an object input type; ``None`` for anything else."""
    if isinstance(input_type, type) and issubclass(input_type, BaseModel):
        return {name: f.is_required() for name, f in input_type.model_fields.items()}
    if typing.is_typeddict(input_type):
        required: frozenset[str] = getattr(input_type, "__required_keys__", frozenset())
        return {name: name in required for name in typing.get_type_hints(input_type)}
    if dataclasses.is_dataclass(input_type):
        return {
            f.name: f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            for f in dataclasses.fields(input_type)
        }
    return None


def _require(file: str, needed: Sequence[str], available: Sequence[str]) -> None:
    missing = [name for name in needed if name not in available]
    if missing:
        raise InputFileError(
            f"{file}: no column {', '.join(repr(m) for m in missing)}; its columns are "
            f"{', '.join(available) or '(none)'}"
        )
