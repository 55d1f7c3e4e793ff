"""Request bodies: the one place every route's body is read and parsed, under the gateway's
limits.

- Media type: JSON only (``application/json``, ``application/*+json``); anything else,
  pickle above all, is refused (415) before any of the body is read. A route that takes
  another type as well (the Open Inference Protocol's binary tensors) says so.
- Size: a ``Content-Length`` over the limit is refused (413) before any of the body is read;
  a body without one (chunked) is read only up to the limit. Memory holds at most the limit.
  What the client still sends after the answer, uvicorn reads and drops so that the client
  gets to read it (closing the connection instead would show it a reset, not a 413).
- JSON: RFC 8259 strictly (UTF-8, no ``NaN`` or ``Infinity``, no lone surrogates), nested at
  most ``max_depth`` deep, and numbers that every part of the path (SQLite, Redis, orjson,
  the workers) reads exactly: integers in the signed 64-bit range, finite floats.
  Of duplicate keys in an object the last wins, as in every JSON parser scaleserve uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic_core
from starlette.types import Message, Receive

from scaleserve.errors import (
    BodyIncomplete,
    BodyTooLarge,
    JsonLimitExceeded,
    MalformedJSON,
    UnsupportedMedia,
)

MediaCheck = Callable[[str], bool]
"""Whether a route takes a body of this ``Content-Type``."""


@dataclass(frozen=True)
class JsonLimits:
    """What a JSON body may hold beyond what JSON itself allows."""

    max_depth: int = 64
    """Most arrays and objects nested in one another (``[[1]]`` is 2 deep)."""
    min_int: int = -(2**63)
    max_int: int = 2**63 - 1


JSON_LIMITS = JsonLimits()
_MAX_DIGITS = 18  # any number a header needs fits; more is a 64-bit overflow waiting to happen

# What the parser (pydantic-core's jiter) says when it stops at its own bounds (about 200
# levels, 4300-digit numbers), which are wider than ours: the same refusal, in our words.
_PARSER_LIMITS = {
    "recursion limit exceeded": "the body nests arrays and objects over {depth} deep",
    "number out of range": "the body holds a number outside the 64-bit range",
}


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def header_int(value: str | None) -> int | None:
    """A header's non-negative decimal number (a length, an event id), ``None`` for anything
    else. ``str.isdigit`` alone is not enough: it takes '²' (a Latin-1 header byte), which
    ``int`` refuses, as it refuses more than 4300 digits."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > _MAX_DIGITS:
        return None
    return int(value)


def check_headers(
    content_type: str | None,
    content_length: str | None,
    limit_bytes: int,
    accepts: MediaCheck = is_json_media_type,
) -> None:
    """Refuse by headers alone, before any of the body is read. A missing ``Content-Type``
    is taken as JSON: the body must still parse as JSON."""
    if content_type is not None and not accepts(content_type):
        raise UnsupportedMedia(content_type)
    length = header_int(content_length)
    if length is not None and length > limit_bytes:
        raise BodyTooLarge(limit_bytes)


async def read_body(receive: Receive, limit_bytes: int) -> bytes:
    """The whole body; ``BodyTooLarge`` as soon as more than ``limit_bytes`` arrived."""
    message = await _body_message(receive)
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit_bytes:
            raise BodyTooLarge(limit_bytes)
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await _body_message(receive)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit_bytes:
            raise BodyTooLarge(limit_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def _body_message(receive: Receive) -> Message:
    """The next part of the body; ``BodyIncomplete`` if the client left instead (a body
    cut short must not be taken for a whole one)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise BodyIncomplete
    return message


def parse_json(body: bytes, limits: JsonLimits = JSON_LIMITS) -> Any:
    """``body`` as Python values: ``MalformedJSON`` if it is not JSON, ``JsonLimitExceeded``
    if it is but holds more than ``limits`` allow."""
    try:
        value = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        message = str(exc)
        for said, meant in _PARSER_LIMITS.items():
            if said in message:
                raise JsonLimitExceeded(meant.format(depth=limits.max_depth)) from None
        raise MalformedJSON(f"the body is not valid JSON: {message}") from None
    check_json_limits(value, limits)
    return value


def check_json_limits(value: Any, limits: JsonLimits = JSON_LIMITS) -> None:
    """``JsonLimitExceeded`` unless ``value`` (decoded JSON) keeps within ``limits``.

    It walks one level of arrays and objects at a time, without recursion, so a document of
    any depth costs no stack.
    """
    level: list[Any] = [[value]]  # a list around the document, which is checked as its item
    for _ in range(limits.max_depth + 1):
        level = _containers_within(level, limits)
        if not level:
            return
    raise JsonLimitExceeded(f"the body nests arrays and objects over {limits.max_depth} deep")


def _containers_within(level: list[Any], limits: JsonLimits) -> list[Any]:
    """The arrays and objects held by those of ``level``, after checking the numbers they
    hold. On every request's path: plain loops and exact type checks, for speed."""
    inner: list[Any] = []
    for container in level:
        for item in container.values() if type(container) is dict else container:
            kind = type(item)
            if kind is list or kind is dict:
                inner.append(item)
            elif kind is int and not limits.min_int <= item <= limits.max_int:
                raise JsonLimitExceeded(
                    f"the body holds an integer of {item.bit_length()} bits, "
                    "outside the signed 64-bit range"
                )
            elif kind is float and not math.isfinite(item):
                raise JsonLimitExceeded("the body holds a number outside the 64-bit range")
    return inner
