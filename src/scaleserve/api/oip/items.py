"""Between named tensors and a model's items: row ``i`` of every tensor is item ``i``."""

from __future__ import annotations

import math
from typing import Any

import orjson

from scaleserve.api.oip.tensors import VARIABLE, Form, Signature, TensorSpec
from scaleserve.api.oip.wire import Tensor
from scaleserve.errors import InvalidInput


class OutputShapeError(Exception):
    """The model's outputs do not form the tensors its types promise."""


def to_items(signature: Signature, tensors: list[Tensor], max_items: int) -> list[Any]:
    """The input items (not yet validated) that ``tensors`` hold, at most ``max_items``."""
    expected = signature.by_name()
    given = {t.name: t for t in tensors}
    for name in given.keys() - expected.keys():
        raise InvalidInput(f"unknown input {name!r}; the inputs are {sorted(expected)}")
    for spec in signature.tensors:
        if spec.required and spec.name not in given:
            raise InvalidInput(f"input {spec.name!r} is missing")
    for tensor in tensors:
        _check_rows(tensor, max_items)
    columns = {name: _rows(expected[name], tensor) for name, tensor in given.items()}
    counts = {len(rows) for rows in columns.values()}
    if len(counts) != 1:
        raise InvalidInput("the inputs disagree on the batch size (their first dimension)")
    if not signature.record:
        return next(iter(columns.values()))
    count = counts.pop()
    return [{name: rows[i] for name, rows in columns.items()} for i in range(count)]


def to_tensors(signature: Signature, items: list[Any]) -> list[Tensor]:
    """The output tensors holding ``items`` (the model's outputs, decoded from JSON)."""
    tensors = []
    for spec in signature.tensors:
        column = [_field(item, spec.name) for item in items] if signature.record else items
        tensors.append(_tensor(spec, column))
    return tensors


def _check_rows(tensor: Tensor, max_items: int) -> None:
    """Refuse a shape that asks for more items than a request may hold, or for more rows
    than it has elements: with a zero in it, ``[10**9, 0]`` holds nothing, yet nesting its
    elements would build 10**9 empty lists."""
    if not tensor.shape:
        raise InvalidInput(f"input {tensor.name!r} needs a first dimension, the batch")
    if tensor.shape[0] > max_items:
        raise InvalidInput(
            f"input {tensor.name!r} holds {tensor.shape[0]} items, over the limit of {max_items}"
        )
    rows = 1
    for dim in tensor.shape[:-1]:
        rows *= dim
        if rows > max(len(tensor.elements), max_items):
            shape = tensor.shape
            raise InvalidInput(f"input {tensor.name!r} of shape {shape} has rows it cannot fill")


def _rows(spec: TensorSpec, tensor: Tensor) -> list[Any]:
    count, dims = tensor.shape[0], tensor.shape[1:]
    elements = [_element(spec, e, tensor.name) for e in tensor.elements]
    if not spec.item_shape:
        if math.prod(dims) != 1:
            raise InvalidInput(
                f"input {tensor.name!r} holds one element per item: shape [{count}] or "
                f"[{count}, 1], not {tensor.shape}"
            )
        return elements
    _check_dims(spec, tensor)
    per = math.prod(dims)
    return [_nest(elements[i * per : (i + 1) * per], dims) for i in range(count)]


def _check_dims(spec: TensorSpec, tensor: Tensor) -> None:
    dims = tensor.shape[1:]
    fits = len(dims) == len(spec.item_shape) and all(
        want in (VARIABLE, got) for want, got in zip(spec.item_shape, dims, strict=True)
    )
    if not fits:
        raise InvalidInput(
            f"input {tensor.name!r} has shape {tensor.shape}; "
            f"expected {[VARIABLE, *spec.item_shape]}"
        )


def _element(spec: TensorSpec, element: Any, name: str) -> Any:
    if isinstance(element, bytes):
        try:
            element = element.decode()
        except UnicodeDecodeError:
            raise InvalidInput(f"input {name!r}: BYTES element is not UTF-8") from None
    if spec.form is Form.JSON:
        try:
            return orjson.loads(element)
        except (orjson.JSONDecodeError, TypeError):
            raise InvalidInput(f"input {name!r}: element is not a JSON document") from None
    return element


def _nest(flat: list[Any], dims: list[int]) -> list[Any]:
    if len(dims) == 1:
        return flat
    step = math.prod(dims[1:])
    return [_nest(flat[i * step : (i + 1) * step], dims[1:]) for i in range(dims[0])]


def _field(item: Any, name: str) -> Any:
    if not isinstance(item, dict):
        raise OutputShapeError(f"an output is {type(item).__name__}, not an object")
    return item.get(name)


def _tensor(spec: TensorSpec, column: list[Any]) -> Tensor:
    if spec.form is not Form.VALUE:
        texts = [_text(value, spec.form) for value in column]
        return Tensor(spec.name, spec.datatype, [len(column)], texts)
    if any(value is None for value in column):
        raise OutputShapeError(f"output {spec.name!r} is missing for some items")
    if not spec.item_shape:
        return Tensor(spec.name, spec.datatype, [len(column)], column)
    dims = _dims(column[0], len(spec.item_shape)) if column else [0] * len(spec.item_shape)
    elements: list[Any] = []
    for value in column:
        if _dims(value, len(dims)) != dims:
            raise OutputShapeError(f"outputs {spec.name!r} differ in shape across the batch")
        elements.extend(_flat(value, len(dims)))
    if len(elements) != len(column) * math.prod(dims):
        raise OutputShapeError(f"output {spec.name!r} is ragged: its rows differ in length")
    return Tensor(spec.name, spec.datatype, [len(column), *dims], elements)


def _text(value: Any, form: Form) -> str:
    if form is Form.TEXT and isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _dims(value: Any, depth: int) -> list[int]:
    dims = []
    for _ in range(depth):
        if not isinstance(value, list):
            raise OutputShapeError("an output is not the nested list its type declares")
        dims.append(len(value))
        value = value[0] if value else None
    return dims


def _flat(value: list[Any], depth: int) -> list[Any]:
    if depth == 1:
        return value
    return [element for row in value for element in _flat(row, depth - 1)]
