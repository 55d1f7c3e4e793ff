"""The semantic step of a lookup: embed the texts the exact tiers missed, through the
broker, with the embedding model the policy names, and find each a close, guarded neighbour.

Embedding is a helper, never a requirement: when the embedding model cannot answer, the
items simply go to their model, as exact misses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import orjson

from scaleserve.cache.backend import Entry
from scaleserve.cache.guard import signature
from scaleserve.cache.keys import digest
from scaleserve.cache.semantic import Neighbour, Outcome, SemanticIndex, Vector
from scaleserve.cache.tiers import TieredStore
from scaleserve.errors import ScaleserveError
from scaleserve.observe import metrics
from scaleserve.queue.broker import Broker

log = logging.getLogger(__name__)


def item_text(payload: bytes, text_field: str | None) -> tuple[str, str] | None:
    """The text of an item and the digest of the rest of it (which must match exactly), or
    ``None`` for an item without text: a string item, or an object's ``text_field``."""
    value = orjson.loads(payload)
    if text_field is None:
        return (value, "") if isinstance(value, str) and value.strip() else None
    if not isinstance(value, dict) or not isinstance(value.get(text_field), str):
        return None
    rest = {k: v for k, v in value.items() if k != text_field}
    return value[text_field], digest(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS))


class Embedder:
    """Vectors for texts from a served embedding model, through the broker."""

    def __init__(self, broker: Broker, model: str) -> None:
        self.model = model
        self._broker = broker

    async def embed(self, texts: Sequence[str], timeout_s: float) -> list[Vector] | None:
        """One vector per text, or ``None`` when the embedding model cannot answer (then
        at once if it has no ready worker, rather than after the request's deadline)."""
        if self._broker.ready_workers(self.model) == 0:
            metrics.CACHE_ERRORS.labels("semantic", "embed").inc()
            return None
        try:
            outputs = await self._broker.submit(
                self.model, [orjson.dumps(t) for t in texts], timeout_s
            )
            vectors = [np.asarray(orjson.loads(o), dtype=np.float32) for o in outputs]
        except (ScaleserveError, ValueError) as exc:
            log.warning("embedding model %r could not embed for the cache: %s", self.model, exc)
            metrics.CACHE_ERRORS.labels("semantic", "embed").inc()
            return None
        if any(v.ndim != 1 or v.shape != vectors[0].shape or not v.size for v in vectors):
            log.warning("embedding model %r returned something other than vectors", self.model)
            metrics.CACHE_ERRORS.labels("semantic", "embed").inc()
            return None
        return vectors


@dataclass(frozen=True)
class Probe:
    """An item's vector and text, to index under its own key once its model answered."""

    vector: Vector
    neighbour: Neighbour
    text: str


class NeighbourFeed(Protocol):
    """Where a gateway shares the texts it indexes (``backends.redis_neighbours``)."""

    async def publish(self, model: str, shared: Sequence[Probe]) -> None: ...


@dataclass
class SemanticResult:
    hits: dict[int, Entry] = field(default_factory=dict)  # item index -> neighbour's entry
    probes: dict[int, Probe] = field(default_factory=dict)  # item index -> what to index


class SemanticLookup:
    """Semantic lookups and fills for one model."""

    def __init__(
        self,
        model: str,
        text_field: str | None,
        *,
        index: SemanticIndex,
        embedder: Embedder,
        store: TieredStore,
        feed: NeighbourFeed | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self._feed = feed
        self._model = model
        self._text_field = text_field
        self._embedder = embedder
        self._store = store
        self._clock = clock
        self._counted = {
            outcome: metrics.CACHE_LOOKUPS.labels(model, "semantic", outcome.value)
            for outcome in Outcome
        }

    async def lookup(
        self,
        payloads: Sequence[bytes],
        keys: Sequence[str],
        misses: Iterable[int],
        namespace: str,
        timeout_s: float,
    ) -> SemanticResult:
        """Semantic hits among the ``misses`` of the exact tiers, and the probes to index
        for the rest."""
        texts = {i: t for i in misses if (t := item_text(payloads[i], self._text_field))}
        if not texts:
            return SemanticResult()
        vectors = await self._embedder.embed([text for text, _ in texts.values()], timeout_s)
        if vectors is None:
            return SemanticResult()
        result = SemanticResult()
        candidates: dict[int, Neighbour] = {}
        for (i, (text, rest)), vector in zip(texts.items(), vectors, strict=True):
            neighbour = Neighbour(keys[i], namespace + rest, signature(text))
            probe = Probe(vector, neighbour, text)
            result.probes[i] = probe
            found = self.index.search(vector, probe.neighbour.partition, probe.neighbour.signature)
            if found.neighbour is not None:
                candidates[i] = found.neighbour
            else:
                self._counted[found.outcome].inc()
        if candidates:
            await self._collect(candidates, result)
        return result

    async def remember(self, probes: Sequence[Probe]) -> None:
        """Index the texts of items their model answered, here and for the other gateways."""
        for probe in probes:
            self.index.add(probe.vector, probe.neighbour)
        if probes and self._feed is not None:
            await self._feed.publish(self._model, probes)

    async def _collect(self, candidates: dict[int, Neighbour], result: SemanticResult) -> None:
        """The outputs of the neighbours found, from the exact tiers; a neighbour whose output
        is gone or expired leaves the index."""
        found = await self._store.get_many(self._model, [n.key for n in candidates.values()])
        now = self._clock()
        for (i, neighbour), hit in zip(candidates.items(), found, strict=True):
            if hit is not None and hit.entry.fresh(now):
                result.hits[i] = hit.entry
                self._counted[Outcome.HIT].inc()
            else:
                self.index.discard(neighbour.key)
                self._counted[Outcome.MISS].inc()
