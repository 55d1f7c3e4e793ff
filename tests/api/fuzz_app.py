"""Models for the hostile-input and fuzz tests: none of them fails on purpose, so any 5xx a
fuzzer provokes is a bug of scaleserve's, never a model doing what it was asked.

Between them they put every route of the API in play: untyped JSON items (``echo``), a typed
model with nested pydantic input and constraints (``orders``), a cached model (``cached``),
a streaming model (``ticker``), a model of numeric vectors (``norm``: tensors over OIP), an
embedding model (``vectors``: ``/v1/embeddings``) and a text-generation model (``writer``:
``/v1/chat/completions`` and ``/v1/completions``).
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field

import scaleserve
from scaleserve.model.tasks import Generation, GenerationChunk, GenerationRequest


class Echo(scaleserve.Model):
    """Returns every input item as it came."""

    name = "echo"
    max_batch_size = 16
    example_input = "hello"

    def predict(self, batch: list[Any]) -> list[Any]:
        return batch


class Size(enum.StrEnum):
    SMALL = "small"
    LARGE = "large"


class Line(BaseModel):
    sku: Annotated[str, Field(min_length=1, max_length=32)]
    quantity: Annotated[int, Field(ge=1, le=1000)]
    size: Size = Size.SMALL
    notes: list[str] = Field(default_factory=list, max_length=4)


class Customer(BaseModel):
    name: Annotated[str, Field(max_length=100)]
    vip: bool = False


class Order(BaseModel):
    customer: Customer
    lines: Annotated[list[Line], Field(min_length=1, max_length=20)]
    discount: Annotated[float, Field(ge=0, le=1)] = 0.0


class Total(BaseModel):
    customer: str
    units: int
    price: float


class Orders(scaleserve.Model):
    """Prices an order: nested records, enums and bounds in the input type."""

    name = "orders"
    max_batch_size = 8
    example_input: ClassVar[dict[str, Any]] = {
        "customer": {"name": "ada"},
        "lines": [{"sku": "a", "quantity": 1}],
    }

    def predict(self, batch: list[Order]) -> list[Total]:
        return [_total(order) for order in batch]


def _total(order: Order) -> Total:
    units = sum(line.quantity for line in order.lines)
    each = {Size.SMALL: 1.0, Size.LARGE: 2.5}
    gross = sum(line.quantity * each[line.size] for line in order.lines)
    return Total(customer=order.customer.name, units=units, price=gross * (1 - order.discount))


class Cached(scaleserve.Model):
    """Upper-cases text, behind the exact result cache."""

    name = "cached"
    cache = "exact"
    example_input = "hello"

    def predict(self, batch: list[Annotated[str, Field(max_length=1000)]]) -> list[str]:
        return [text.upper() for text in batch]


class Tick(BaseModel):
    count: Annotated[int, Field(ge=0, le=20)] = 3


class Ticker(scaleserve.Model):
    """Streams ``tick0 tick1 ...``; ``predict`` returns them all at once."""

    name = "ticker"
    example_input: ClassVar[dict[str, int]] = {"count": 1}

    def predict(self, batch: list[Tick]) -> list[list[str]]:
        return [list(self.predict_stream(item)) for item in batch]

    def predict_stream(self, item: Tick) -> Iterator[str]:
        for index in range(item.count):
            yield f"tick{index}"


class Norm(scaleserve.Model):
    """The length of each vector: a tensor input of variable width over OIP."""

    name = "norm"
    max_batch_size = 16
    example_input: ClassVar[list[float]] = [3.0, 4.0]

    def predict(self, batch: list[Annotated[list[float], Field(max_length=64)]]) -> list[float]:
        return [math.fsum(x * x for x in vector) ** 0.5 for vector in batch]


DIMENSIONS = 4


class Vectors(scaleserve.Model):
    """A toy embedding: four numbers from a hash of the text."""

    name = "vectors"
    task = "embedding"
    max_batch_size = 16
    example_input = "hello"

    def predict(self, batch: list[str]) -> list[list[float]]:
        return [_vector(text) for text in batch]


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return [byte / 255 for byte in digest[:DIMENSIONS]]


MAX_TOKENS = 16


class Writer(scaleserve.Model):
    """A toy text generator: repeats the prompt's words, one word per token."""

    name = "writer"
    task = "text-generation"
    max_batch_size = 8
    example_input: ClassVar[dict[str, Any]] = {"prompt": "hello", "max_tokens": 2}

    def predict(self, batch: list[GenerationRequest]) -> list[Generation]:
        return [Generation.collect(self.predict_stream(item)) for item in batch]

    def predict_stream(self, item: GenerationRequest) -> Iterator[GenerationChunk]:
        words = item.text().split() or ["..."]
        limit = min(item.max_tokens or MAX_TOKENS, MAX_TOKENS)
        for index in range(limit):
            yield GenerationChunk(text=words[index % len(words)] + " ")
        yield GenerationChunk(tokens=0, prompt_tokens=len(words), finish_reason="length")
