"""Texts turned into vectors by a served embedding model, as the caller: through the
broker (so batched with every other request of that model), admitted under the caller's
limits and counted in its usage, in chunks of what the model takes per request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from scaleserve.api import protocol_route
from scaleserve.api.caller import Caller
from scaleserve.api.routes import find_model
from scaleserve.errors import InvalidInput
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import Broker


class TextEmbedder:
    def __init__(self, specs: Sequence[ModelSpec], broker: Broker) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._broker = broker

    async def embed(
        self,
        caller: Caller,
        model: str,
        texts: Sequence[str],
        loc: Callable[[int], list[Any]],
    ) -> list[list[float]]:
        """One vector per text, in order; ``InvalidInput`` where a text is refused or the
        model's output is not a vector."""
        spec = find_model(self._specs, model)
        size = max(1, spec.max_items_per_request)
        chunks = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        done = await asyncio.gather(
            *(self._chunk(caller, spec, chunk, start * size, loc)
              for start, chunk in enumerate(chunks))
        )  # fmt: skip
        return [vector for chunk in done for vector in chunk]

    async def _chunk(
        self,
        caller: Caller,
        spec: ModelSpec,
        texts: list[str],
        offset: int,
        loc: Callable[[int], list[Any]],
    ) -> list[list[float]]:
        payloads = protocol_route.payloads(spec, texts, lambda i: loc(offset + i))
        async with caller.serving(spec.name, len(payloads)):
            outputs = await self._broker.submit(spec.name, payloads, spec.timeout_s)
        vectors = [orjson.loads(raw) for raw in outputs]
        if not all(isinstance(v, list) and all(isinstance(x, float | int) for x in v)
                   for v in vectors):  # fmt: skip
            raise InvalidInput(f"model {spec.name!r} does not answer with vectors")
        return vectors
