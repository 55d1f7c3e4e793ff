"""Batches of items as the data an MLflow pyfunc model takes, and its results as one plain
JSON value per item (numpy and pandas values turned into Python ones).

Imported by workers only (it needs numpy and pandas); the item types come from
``scaleserve.registry.mlflow_signature``.

- Columns become a ``pandas.DataFrame`` with each column in its MLflow dtype (an optional
  column no item of the batch has is left out); unnamed columns are numbered.
- One tensor becomes a ``numpy`` array in its dtype, several named ones a dict of arrays.
- Untyped items (no signature): a ``DataFrame`` of records when every item is an object,
  else the list as it is.

A result becomes rows along its first axis: a single-column frame, a series, an array or a
one-entry dict give one value per item (reshaped to the signature's row shape, so an
``(n, 1)`` array serves a ``[-1]`` output); a frame of several columns, or a dict of several
arrays, gives one object per item.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from scaleserve.registry.mlflow_signature import Side, Slot


def model_input(batch: Sequence[Any], side: Side) -> Any:
    """The data ``pyfunc.predict`` takes for ``batch``, items of ``side.item_type``."""
    if not side.slots:
        if all(isinstance(item, Mapping) for item in batch):
            return pd.DataFrame.from_records([dict(item) for item in batch])
        return list(batch)
    rows = [_data(item) for item in batch]
    if side.tensors:
        if side.named:
            return {s.name: _array([row[s.name] for row in rows], s) for s in side.slots}
        return _array(rows, side.slots[0])
    return _frame(rows, side)


def output_rows(result: Any, side: Side) -> list[Any]:
    """One plain JSON value per item from what ``pyfunc.predict`` returned."""
    rows = _records(result, side) if side.named else _values(result, side)
    return [plain(row) for row in rows]


def plain(value: Any) -> Any:
    """``value`` with numpy and pandas values made Python ones, recursively."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value] if value.dtype.kind in "MO" else value.tolist()
    if isinstance(value, np.datetime64 | pd.Timestamp):
        return pd.Timestamp(value).to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _data(value: Any) -> Any:
    """An item as plain data keyed by the signature's names (bytes stay bytes)."""
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return {
            field.alias or attr: _data(getattr(value, attr))
            for attr, field in fields.items()
            if field.is_required() or getattr(value, attr) is not None
        }
    if isinstance(value, tuple):
        return [_data(v) for v in value]
    return value


def _frame(rows: list[Any], side: Side) -> Any:
    columns: dict[Any, list[Any]]
    if side.named:
        columns = {s.name: [row.get(s.name) for row in rows] for s in side.slots}
    elif len(side.slots) == 1:
        columns = {0: rows}
    else:
        columns = {i: [row[i] for row in rows] for i in range(len(side.slots))}
    kept = {
        key: _series(values, slot)
        for (key, values), slot in zip(columns.items(), side.slots, strict=True)
        if slot.required or any(v is not None for v in values)
    }
    return pd.DataFrame(kept)


def _series(values: list[Any], slot: Slot) -> Any:
    if slot.dtype == "datetime64[ns]":
        return pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None)
    floats = slot.dtype is not None and np.dtype(slot.dtype).kind == "f"
    if slot.dtype is None or (None in values and not floats):
        return pd.Series(values, dtype=object)
    return pd.Series(values, dtype=slot.dtype)  # a float column takes None as NaN


def _array(values: list[Any], slot: Slot) -> Any:
    return np.asarray(values, dtype=slot.dtype if slot.dtype not in {None, "str"} else None)


def _values(result: Any, side: Side) -> list[Any]:
    row_shape = side.slots[0].row_shape if len(side.slots) == 1 else None
    if isinstance(result, pd.DataFrame) and result.shape[1] != 1:
        return list(result.to_dict(orient="records"))
    if isinstance(result, pd.DataFrame):
        result = result.iloc[:, 0]
    if isinstance(result, pd.Series):
        return _rows(result.to_numpy(), row_shape)
    if isinstance(result, Mapping):
        if len(result) == 1:
            return _values(next(iter(result.values())), side)
        return _dict_rows(result, {})
    if isinstance(result, np.ndarray):
        return _rows(result, row_shape)
    return list(result)


def _records(result: Any, side: Side) -> list[Any]:
    """Rows of a side of named outputs: one object per item."""
    if isinstance(result, pd.DataFrame):
        return list(result.to_dict(orient="records"))
    if isinstance(result, Mapping):
        return _dict_rows(result, {s.name: s.row_shape for s in side.slots if s.tensor})
    if len(side.slots) == 1:
        name = side.slots[0].name
        return [{name: value} for value in _values(result, side)]
    names = [slot.name for slot in side.slots]
    raise TypeError(f"the model returned {type(result).__name__}, not the named outputs {names}")


def _dict_rows(result: Mapping[Any, Any], shapes: Mapping[Any, tuple[int, ...]]) -> list[Any]:
    columns = {k: _rows(np.asarray(v), shapes.get(k)) for k, v in result.items()}
    count = min((len(rows) for rows in columns.values()), default=0)
    return [{k: rows[i] for k, rows in columns.items()} for i in range(count)]


def _rows(array: Any, row_shape: tuple[int, ...] | None) -> list[Any]:
    """``array`` along its first axis, each row in ``row_shape`` where it fits."""
    if row_shape is not None and array.ndim >= 1 and list(row_shape).count(-1) <= 1:
        with contextlib.suppress(ValueError):  # else the output type names the mismatch
            array = array.reshape((array.shape[0], *row_shape))
    return list(array)
