"""Whether a shadowed output agrees with the stable version's on the same input.

A model declares how to compare in its ``agreement`` attribute: ``"equal"`` (the default:
the same JSON), ``"cosine>=0.99"`` (vectors pointing the same way), ``"field:label"`` (the
same value of one field, such as a classifier's top label), or a function of the two
decoded outputs returning a bool.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from scaleserve.errors import ConfigError

Agreement = Callable[[bytes, bytes], bool]


def agreement_of(declared: Any) -> Agreement:
    """The comparison a model declared (see the module docstring)."""
    if callable(declared):
        return lambda a, b: bool(declared(orjson.loads(a), orjson.loads(b)))
    if declared in (None, "equal"):
        return _equal
    if isinstance(declared, str) and declared.startswith("cosine>="):
        threshold = _number(declared.removeprefix("cosine>="), declared)
        return lambda a, b: _cosine(orjson.loads(a), orjson.loads(b)) >= threshold
    if isinstance(declared, str) and declared.startswith("field:") and len(declared) > 6:
        name = declared.removeprefix("field:")
        return lambda a, b: _field(a, name) == _field(b, name)
    raise ConfigError(
        f"agreement {declared!r} is not one of 'equal', 'cosine>=X', 'field:NAME' or a function"
    )


def _equal(a: bytes, b: bytes) -> bool:
    return a == b or orjson.loads(a) == orjson.loads(b)


def _number(text: str, declared: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"agreement {declared!r} needs a number after '>='") from None


def _cosine(a: Any, b: Any) -> float:
    if not isinstance(a, list) or not isinstance(b, list) or len(a) != len(b) or not a:
        return -1.0
    dot = sum(float(x) * float(y) for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(float(x) ** 2 for x in a)) * math.sqrt(sum(float(y) ** 2 for y in b))
    return dot / norms if norms else -1.0


def _field(output: bytes, name: str) -> Any:
    value = orjson.loads(output)
    return value.get(name) if isinstance(value, dict) else None
