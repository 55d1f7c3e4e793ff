"""Builds a model's semantic step (index, embedder, sharing); imported only by a gateway
that serves a semantic cache, since it loads numpy and usearch."""

from __future__ import annotations

from collections.abc import Sequence

from scaleserve.cache import keys
from scaleserve.cache.backends.redis_neighbours import NeighbourFeed
from scaleserve.cache.semantic import SemanticIndex
from scaleserve.cache.semantic_lookup import Embedder, SemanticLookup
from scaleserve.cache.tiers import TieredStore
from scaleserve.errors import ConfigError
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import Broker


def semantic_lookup(
    spec: ModelSpec,
    specs: Sequence[ModelSpec],
    broker: Broker,
    store: TieredStore,
    feed: tuple[NeighbourFeed, str] | None = None,
) -> SemanticLookup:
    """``spec``'s semantic step; ``feed`` (with the cache's key prefix) shares its index."""
    embedder = _embedding_model(spec, specs)
    policy = spec.cache
    index = SemanticIndex(spec.name, policy.max_entries, policy.min_similarity)
    if feed is not None:
        neighbours, prefix = feed
        stream = keys.semantic_stream(prefix, spec.name, embedder.name, embedder.version)
        neighbours.follow(spec.name, stream, index)
    return SemanticLookup(
        spec.name,
        policy.text_field,
        index=index,
        embedder=Embedder(broker, embedder.name),
        store=store,
        feed=None if feed is None else feed[0],
    )


def _embedding_model(spec: ModelSpec, specs: Sequence[ModelSpec]) -> ModelSpec:
    """A semantic policy must name another model served alongside."""
    name = spec.cache.embedding_model
    if name == spec.name:
        raise ConfigError(f"model {spec.name!r} cannot embed its own texts for its cache")
    found = next((s for s in specs if s.name == name), None)
    if found is None:
        raise ConfigError(
            f"model {spec.name!r} has a semantic cache embedded by {name!r}, "
            "which this service does not serve"
        )
    return found
