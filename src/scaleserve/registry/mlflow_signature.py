"""MLflow model signatures as the item types of scaleserve.

An imported version keeps its signature as plain JSON: the ``signature`` mapping of its
``MLmodel`` file, each part parsed from the JSON text MLflow writes there into a list, or
``None`` when the model has no such part (``plain_signature`` makes it)::

    {"inputs": [{"type": "double", "name": "a", "required": true}, ...],
     "outputs": [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}],
     "params": null}

The readers here also take the parts as MLflow's JSON text. A side (inputs or outputs)
types one item, which is one row of the model's data:

- named columns or tensors: an object with one field per name (a pydantic model; the
  field's alias is the name, so a name need not be a Python identifier);
- one unnamed column or tensor: the bare value;
- several unnamed columns: a list of the values, in order;
- no signature, or no such side: ``Any``.

MLflow's column types map as string → ``str``, double and float → ``float``, long and
integer → ``int`` within the type's range, boolean → ``bool``, binary → ``bytes`` sent as
base64, datetime → ``datetime``, array → ``list``, map → ``dict[str, T]``, object → a
nested object, any → ``Any``; a column that is not required is ``T | None = None``. A
tensor's item is its row: a number for a ``[-1]`` shape, a list of 3 for ``[-1, 3]``,
nested for more axes (the first axis is the batch; ``-1`` elsewhere is any length).
Params are not part of an item: the model's defaults apply.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field, create_model

from scaleserve.errors import ConfigError

Part = Literal["inputs", "outputs"]
PARTS = ("inputs", "outputs", "params")
_INT_RANGES = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
_UINT_RANGES = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
_COLUMN_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "datetime": "datetime64[ns]",
}
_BASE_MODEL_NAMES = frozenset(dir(BaseModel))


@dataclass(frozen=True)
class Slot:
    """One column or tensor of a signature side."""

    name: str | None
    type: Any
    """The Python type of one row's value."""
    dtype: str | None = None
    """The numpy dtype the model takes it as; ``None``: Python objects as they are."""
    required: bool = True
    tensor: bool = False
    row_shape: tuple[int, ...] = ()
    """A tensor's shape without its batch axis (``-1``: any length); ``()`` for a column."""


@dataclass(frozen=True)
class Side:
    """One side of a signature: the type of one item and the slots it is made of."""

    item_type: Any = Any
    slots: tuple[Slot, ...] = ()

    @property
    def named(self) -> bool:
        """An item is an object with one field per slot."""
        return any(slot.name is not None for slot in self.slots)

    @property
    def tensors(self) -> bool:
        return any(slot.tensor for slot in self.slots)


UNTYPED = Side()


def plain_signature(signature: Any) -> dict[str, Any] | None:
    """The stored form of an ``MLmodel`` file's ``signature`` mapping (see the module)."""
    if signature is None:
        return None
    if not isinstance(signature, Mapping):
        raise ConfigError("the MLmodel signature is not a mapping")
    return {part: _specs(signature.get(part), part) for part in PARTS}


def signature_side(signature: Mapping[str, Any] | None, part: Part, title: str) -> Side:
    """The ``inputs`` or ``outputs`` of ``signature`` as item types; ``title`` names the
    pydantic models made for it (they appear in the OpenAPI document)."""
    specs = _specs(signature.get(part), part) if signature else None
    if not specs:
        return UNTYPED
    slots = tuple(_slot(spec, f"{title}{part.title()}") for spec in specs)
    return Side(item_type=_item_type(slots, f"{title}{part.title()}"), slots=slots)


def _specs(raw: Any, part: str) -> list[dict[str, Any]] | None:
    """A signature part as a list of specs, from MLflow's JSON text or the parsed list."""
    if raw is None:
        return None
    try:
        specs = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ConfigError(f"the signature's {part} are not JSON") from None
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise ConfigError(f"the signature's {part} must be a list of column or tensor specs")
    return specs


def _slot(spec: Mapping[str, Any], title: str) -> Slot:
    name = spec.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"a signature name must be a string, not {name!r}")
    if spec.get("type") == "tensor":
        return _tensor_slot(name, spec.get("tensor-spec"))
    required = bool(spec.get("required", True))
    value_type = _value_type(spec, f"{title}{_camel(name or '')}")
    return Slot(name, value_type, _COLUMN_DTYPES.get(spec["type"]), required)


def _value_type(spec: Mapping[str, Any], title: str) -> Any:
    """The Python type of a column (or of an array's items, a map's values, a property)."""
    kind = spec.get("type")
    scalar = _scalar_type(kind)
    if scalar is not None:
        return scalar
    if kind == "array":
        return list[_value_type(_nested(spec, "items"), title)]  # type: ignore[misc]
    if kind == "map":
        return dict[str, _value_type(_nested(spec, "values"), title)]  # type: ignore[misc]
    if kind == "object":
        properties = _nested(spec, "properties")
        entries = [
            (name, _value_type(prop, f"{title}{_camel(name)}"), bool(prop.get("required", True)))
            for name, prop in properties.items()
        ]
        return record_model(title, entries)
    raise ConfigError(f"MLflow type {kind!r} is not supported")


def _scalar_type(kind: Any) -> Any:
    scalars: dict[str, Any] = {
        "string": str,
        "double": float,
        "float": float,
        "long": _int_type(64),
        "integer": _int_type(32),
        "boolean": bool,
        "binary": Base64Bytes,
        "datetime": datetime,
        "any": Any,
    }
    return scalars.get(kind) if isinstance(kind, str) else None


def _nested(spec: Mapping[str, Any], key: str) -> Any:
    value = spec.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"an MLflow {spec.get('type')} type needs a mapping of {key}")
    return value


def _tensor_slot(name: str | None, tensor: Any) -> Slot:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("shape"), list):
        raise ConfigError("a tensor spec needs a dtype and a shape")
    dtype = str(tensor.get("dtype"))
    shape = tuple(int(axis) for axis in tensor["shape"])
    row_shape = shape[1:]
    value_type = _tensor_value_type(dtype)
    for axis in reversed(row_shape):
        bounds = Field() if axis < 0 else Field(min_length=axis, max_length=axis)
        value_type = Annotated[list[value_type], bounds]  # type: ignore[valid-type]
    return Slot(name, value_type, dtype, tensor=True, row_shape=row_shape)


def _tensor_value_type(dtype: str) -> Any:
    if dtype.startswith("float"):
        return float
    if dtype in _INT_RANGES:
        return _int_type(_INT_RANGES[dtype])
    if dtype in _UINT_RANGES:
        return Annotated[int, Field(ge=0, le=2 ** _UINT_RANGES[dtype] - 1)]
    if dtype == "bool":
        return bool
    if dtype in {"str", "object"}:
        return str if dtype == "str" else Any
    raise ConfigError(f"tensor dtype {dtype!r} is not supported")


def _int_type(bits: int) -> Any:
    return Annotated[int, Field(ge=-(2 ** (bits - 1)), le=2 ** (bits - 1) - 1)]


def _item_type(slots: Sequence[Slot], title: str) -> Any:
    if any(slot.name is not None for slot in slots):
        if any(slot.name is None for slot in slots):
            raise ConfigError("a signature names all of its columns or tensors, or none")
        return record_model(title, [(str(s.name), s.type, s.required) for s in slots])
    if len(slots) == 1:
        return slots[0].type
    return tuple[tuple(_optional(s.type, s.required) for s in slots)]  # type: ignore[misc]


def record_model(title: str, entries: Sequence[tuple[str, Any, bool]]) -> type[BaseModel]:
    """A pydantic model of ``(name, type, required)`` fields: validated and serialized by
    the names, which need not be identifiers; unknown names are refused."""
    fields: dict[str, Any] = {}
    for index, (name, value_type, required) in enumerate(entries):
        attr = name if _usable_attr(name) else f"field_{index}"
        default = ... if required else None
        fields[attr] = (_optional(value_type, required), Field(default, alias=name))
    config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=False)
    return create_model(_identifier(title) or "Record", __config__=config, **fields)


def _optional(value_type: Any, required: bool) -> Any:
    return value_type if required else value_type | None


def _usable_attr(name: str) -> bool:
    """``name`` can be a pydantic field name as it is."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith(("_", "model_"))
        and name not in _BASE_MODEL_NAMES
    )


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in _identifier(text).split("_"))


def _identifier(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in text if c.isascii())
    return cleaned if not cleaned[:1].isdigit() else f"_{cleaned}"
