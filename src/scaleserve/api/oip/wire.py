"""Inference requests and responses on the wire: JSON, or JSON followed by raw tensor bytes
(Triton's binary tensor data extension, what ``tritonclient`` sends by default).

With the extension the header ``Inference-Header-Content-Length`` gives the length of the
JSON part; each input whose ``parameters.binary_data_size`` is set takes that many bytes
from what follows, in order. Numbers are little-endian; a BYTES element is a 4-byte length
then its bytes. Replies are framed the same way when the client asks for binary outputs.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, Field, NonNegativeInt, ValidationError

from scaleserve.api.body import header_int, parse_json
from scaleserve.api.protocol_route import validation_error
from scaleserve.errors import InvalidInput

HEADER_LENGTH = "inference-header-content-length"
# struct codes of the fixed-size datatypes (BF16 has none: it is refused).
_CODES = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
_LENGTH = struct.Struct("<I")
MAX_DIMS = 16
"""Most dimensions a tensor may have (Triton's own limit is 8): the product of a shape is
taken, and of thousands of 63-bit dimensions it would take seconds to compute."""


class RequestInput(BaseModel):
    name: str
    shape: list[NonNegativeInt] = Field(max_length=MAX_DIMS)
    datatype: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: Any = None


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]


@dataclass
class Tensor:
    """A tensor's name, datatype, shape, and its elements flattened row-major."""

    name: str
    datatype: str
    shape: list[int]
    elements: list[Any]
    binary: bool = False  # send it as raw bytes


def parse(body: bytes, header_length: str | None) -> tuple[InferenceRequest, list[Tensor]]:
    """The request and its input tensors; ``InvalidInput`` naming what is wrong."""
    json_part, raw = _split(body, header_length)
    try:
        request = InferenceRequest.model_validate(parse_json(json_part))
    except ValidationError as exc:
        raise validation_error(exc.errors(include_url=False)) from None
    tensors = []
    offset = 0
    for given in request.inputs:
        size = given.parameters.get("binary_data_size")
        if size is None:
            elements = _flatten(given.data, given.name)
        else:
            if not isinstance(size, int) or size < 0 or offset + size > len(raw):
                raise InvalidInput(f"input {given.name!r}: binary_data_size runs past the body")
            elements = _unpack(given.datatype, raw[offset : offset + size], given.name)
            offset += size
        if len(elements) != math.prod(given.shape):
            raise InvalidInput(
                f"input {given.name!r} has {len(elements)} elements, "
                f"not the {math.prod(given.shape)} of its shape {given.shape}"
            )
        tensors.append(Tensor(given.name, given.datatype, given.shape, elements))
    if offset != len(raw):
        raise InvalidInput(f"{len(raw) - offset} bytes of binary data belong to no input")
    return request, tensors


def render(response: InferenceResponse, tensors: list[Tensor]) -> tuple[bytes, int | None]:
    """The body, and the length of its JSON part when binary tensors follow it."""
    outputs: list[dict[str, Any]] = []
    raw: list[bytes] = []
    for tensor in tensors:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": tensor.shape,
        }
        if tensor.binary:
            raw.append(_pack(tensor.datatype, tensor.elements))
            entry["parameters"] = {"binary_data_size": len(raw[-1])}
        else:
            entry["data"] = tensor.elements
        outputs.append(entry)
    head = response.model_dump(exclude_none=True, exclude={"outputs"})
    json_part = orjson.dumps({**head, "outputs": outputs})
    if not raw:
        return json_part, None
    return json_part + b"".join(raw), len(json_part)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    length = header_int(header_length)
    if length is None or length > len(body):
        raise InvalidInput(f"Inference-Header-Content-Length {header_length[:40]!r} does not fit")
    return body[:length], body[length:]


def _flatten(data: Any, name: str) -> list[Any]:
    if data is None:
        raise InvalidInput(f"input {name!r} has neither data nor binary_data_size")
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(d, list) for d in data):
        return data
    flat: list[Any] = []
    for element in data:
        flat.extend(_flatten(element, name))
    return flat


def _unpack(datatype: str, raw: bytes, name: str) -> list[Any]:
    if datatype == "BYTES":
        return _unpack_bytes(raw, name)
    code = _CODES.get(datatype)
    if code is None:
        raise InvalidInput(f"input {name!r}: datatype {datatype!r} is not supported")
    size = struct.calcsize("<" + code)
    if len(raw) % size:
        raise InvalidInput(f"input {name!r}: {len(raw)} bytes are not whole {datatype} elements")
    return list(struct.unpack(f"<{len(raw) // size}{code}", raw))


def _unpack_bytes(raw: bytes, name: str) -> list[Any]:
    elements: list[Any] = []
    offset = 0
    while offset < len(raw):
        if offset + _LENGTH.size > len(raw):
            raise InvalidInput(f"input {name!r}: BYTES data ends inside an element's length")
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += _LENGTH.size
        if offset + length > len(raw):
            raise InvalidInput(f"input {name!r}: BYTES element runs past the data")
        elements.append(raw[offset : offset + length])
        offset += length
    return elements


def _pack(datatype: str, elements: list[Any]) -> bytes:
    if datatype == "BYTES":
        parts = []
        for element in elements:
            data = element.encode() if isinstance(element, str) else bytes(element)
            parts.append(_LENGTH.pack(len(data)) + data)
        return b"".join(parts)
    return struct.pack(f"<{len(elements)}{_CODES[datatype]}", *elements)
