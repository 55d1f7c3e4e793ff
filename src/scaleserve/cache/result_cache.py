"""The result cache of one gateway: each cached model's ``ModelCache`` over shared tiers.

Tiers: ``memory`` in this process (unless ``SCALESERVE_CACHE_MEMORY_TIER=off``), then
``redis`` when a Redis URL is configured. Models whose policy is ``off`` get no
``ModelCache`` and pay nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scaleserve.cache import keys
from scaleserve.cache.backend import CacheBackend
from scaleserve.cache.backends.memory import Bound, MemoryBackend
from scaleserve.cache.keys import cache_prefix
from scaleserve.cache.readthrough import ModelCache
from scaleserve.cache.settings import CacheSettings
from scaleserve.cache.tiers import TieredStore
from scaleserve.errors import ConfigError, UnknownModel
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import Broker

if TYPE_CHECKING:  # redis.asyncio loads only where a Redis URL is configured
    from scaleserve.cache.backends.redis import RedisBackend
    from scaleserve.cache.backends.redis_neighbours import NeighbourFeed

log = logging.getLogger(__name__)


class ResultCache:
    """Every cached model of a gateway: built once at start, used as ``async with``.

    Building it checks what cannot be checked per model (a semantic policy's embedding model
    must be served alongside): ``ConfigError``.
    """

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        broker: Broker,
        settings: CacheSettings | None = None,
        redis_url: str | None = None,
        redis_prefix: str = keys.REDIS_PREFIX,
    ) -> None:
        settings = settings or CacheSettings()
        self._prefix = cache_prefix(redis_prefix)
        self._served = {spec.name for spec in specs}
        cached = [spec for spec in specs if spec.cache.enabled]
        tiers: list[CacheBackend] = []
        self._memory: MemoryBackend | None = None
        if cached and settings.memory_tier:
            bounds = {s.name: Bound(s.cache.max_entries, s.cache.max_bytes) for s in cached}
            self._memory = MemoryBackend(bounds)
            tiers.append(self._memory)
        self._redis: RedisBackend | None = None
        if cached and redis_url:
            from scaleserve.cache.backends.redis import RedisBackend

            self._redis = RedisBackend(redis_url, self._prefix, settings.redis_timeout_s)
            tiers.append(self._redis)
        if cached and not tiers:
            log.warning("the cache has no tier (memory tier off, no Redis): nothing is cached")
        self._store = TieredStore(tiers)
        self._settings, self._redis_url = settings, redis_url
        self._feed: NeighbourFeed | None = None  # shares semantic indexes, when on Redis
        self._models = {spec.name: self._model_cache(spec, broker, specs) for spec in cached}

    def for_model(self, name: str) -> ModelCache | None:
        return self._models.get(name)

    async def start(self) -> None:
        if self._redis is not None:
            await self._redis.start(on_purge=self._forget)
        if self._feed is not None:
            await self._feed.start()

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.close()
        await self._store.close()

    async def __aenter__(self) -> ResultCache:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def purge(self, model: str) -> int:
        """Drop every cached output of ``model`` (all versions, all scopes) in every tier, in
        this gateway and (through Redis) in the others; returns how many entries went."""
        if model not in self._served:
            raise UnknownModel(model)
        purged = await self._store.purge(model)
        if self._feed is not None:
            await self._feed.purge(model)
        self._forget(model)
        return purged

    def _forget(self, model: str | None) -> None:
        """Drop ``model`` (``None``: every model) from this gateway's memory and indexes."""
        for name, cache in self._models.items():
            if model in (None, name):
                if self._memory is not None:
                    self._memory.forget(name)
                if cache.semantic is not None:
                    cache.semantic.index.clear()

    def _model_cache(
        self, spec: ModelSpec, broker: Broker, specs: Sequence[ModelSpec]
    ) -> ModelCache:
        semantic = None
        if spec.cache.mode == "semantic":
            try:  # numpy and usearch load only in a gateway that has a semantic cache
                from scaleserve.cache import semantic_setup
                from scaleserve.cache.backends.redis_neighbours import NeighbourFeed
            except ImportError as exc:
                raise ConfigError(
                    f"model {spec.name!r} has a semantic cache, which needs the 'cache' extra "
                    f"(pip install 'scaleserve[cache]'): {exc}"
                ) from exc
            if self._redis_url and self._feed is None:
                self._feed = NeighbourFeed(self._redis_url, self._settings.redis_timeout_s)
            feed = None if self._feed is None else (self._feed, self._prefix)
            semantic = semantic_setup.semantic_lookup(spec, specs, broker, self._store, feed)
        version_of = getattr(broker, "version_of", None)  # a registry model's versions
        return ModelCache(
            spec.name,
            spec.version,
            spec.cache,
            store=self._store,
            broker=broker,
            prefix=self._prefix,
            semantic=semantic,
            version_of=(lambda: version_of(spec.name)) if version_of else None,
        )
