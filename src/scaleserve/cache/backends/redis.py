"""The redis tier: entries shared by every gateway, expiring by themselves (``PX``).

A Redis that cannot be reached never fails a request: lookups answer "nothing cached" and
writes are dropped, and after a failure the tier is skipped for ``retry_after_s`` so a dead
Redis costs one timeout, not one per request. Purges are announced on a channel so every
gateway drops the model from its memory tier too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from scaleserve.background import reraise_if_cancelled, stop_task
from scaleserve.cache import keys
from scaleserve.cache.backend import Entry, Tier, decode, encode
from scaleserve.errors import ServingError
from scaleserve.observe import metrics

log = logging.getLogger(__name__)

PurgeListener = Callable[[str | None], None]
"""Called with a model another gateway purged, or ``None``: purges may have been missed."""

_UNLINK_BATCH = 500
_SUBSCRIBE_WAIT_S = 2.0


class Breaker:
    """Skips a failing dependency for ``retry_after_s`` after each failure."""

    def __init__(self, retry_after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._open_until = 0.0

    @property
    def closed(self) -> bool:
        return self._clock() >= self._open_until

    def trip(self) -> None:
        self._open_until = self._clock() + self.retry_after_s


class RedisBackend:
    """The ``redis`` tier; see ``scaleserve.cache.backend.CacheBackend``."""

    tier: Tier = "redis"

    def __init__(
        self,
        url: str,
        prefix: str = keys.DEFAULT_PREFIX,
        timeout_s: float = 0.5,
        retry_after_s: float = 1.0,
    ) -> None:
        self._url = url
        self._prefix = keys.check_prefix(prefix)
        self._client: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._breaker = Breaker(retry_after_s)
        self._listener: asyncio.Task[None] | None = None

    async def start(self, on_purge: PurgeListener | None = None) -> None:
        """Listen for other gateways' purges (waiting briefly for the subscription, so purges
        sent once this returns are heard; a Redis that is down does not hold the start up)."""
        if on_purge is None:
            return
        subscribed = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(on_purge, subscribed))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_SUBSCRIBE_WAIT_S):
                await subscribed.wait()

    async def close(self) -> None:
        await stop_task(self._listener)
        await self._client.aclose()

    async def get_many(self, model: str, keys: Sequence[str]) -> list[Entry | None]:
        if not self._breaker.closed:
            return [None] * len(keys)
        try:
            raws = await self._client.mget(keys)
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return [None] * len(keys)
        return [decode(raw) if isinstance(raw, bytes) else None for raw in raws]

    async def put_many(self, model: str, entries: Sequence[tuple[str, Entry]]) -> None:
        if not entries or not self._breaker.closed:
            return
        now = time.time()
        async with self._client.pipeline(transaction=False) as pipe:
            for key, entry in entries:
                ttl_ms = int((entry.keep_until - now) * 1000)
                if ttl_ms > 0:
                    pipe.set(key, encode(entry), px=ttl_ms)
            try:
                await pipe.execute()
            except (RedisError, OSError) as exc:
                self._failed("put", exc)

    async def purge(self, model: str) -> int:
        """Unlink every entry of ``model``, then tell every gateway. Unlike lookups, a purge
        that cannot reach Redis fails loudly: the caller must know it did not happen."""
        try:
            purged = await self._unlink_matching(keys.model_pattern(self._prefix, model))
            await self._client.publish(keys.purge_channel(self._prefix), model)
        except (RedisError, OSError) as exc:
            self._failed("purge", exc)
            raise ServingError(f"the cache's Redis tier cannot be reached: {exc}") from exc
        return purged

    async def _unlink_matching(self, pattern: str) -> int:
        purged = 0
        batch: list[bytes] = []
        async for key in self._client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= _UNLINK_BATCH:
                purged += await self._client.unlink(*batch)
                batch.clear()
        if batch:
            purged += await self._client.unlink(*batch)
        return purged

    async def _listen(self, on_purge: PurgeListener, subscribed: asyncio.Event) -> None:
        # Its own connection, without the socket timeout: a quiet channel is not a failure.
        client: Redis = Redis.from_url(self._url, health_check_interval=15)
        delay_s = 0.1
        lost = False
        try:
            while True:
                try:
                    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                        await pubsub.subscribe(keys.purge_channel(self._prefix))
                        if lost:
                            on_purge(None)  # purges sent while we were away went unheard
                        subscribed.set()
                        lost, delay_s = False, 0.1
                        async for message in pubsub.listen():
                            if message["type"] == "message":
                                on_purge(bytes(message["data"]).decode())
                except (RedisError, OSError) as exc:
                    reraise_if_cancelled(exc)
                    lost = True
                    log.warning("cache purge channel lost (%s); retrying in %.1fs", exc, delay_s)
                    await asyncio.sleep(delay_s)
                    delay_s = min(delay_s * 2, 5.0)
        finally:
            await client.aclose()

    def _failed(self, operation: str, exc: Exception) -> None:
        if self._breaker.closed:
            log.warning(
                "cache redis tier failed to %s (%s); passing over it for %.1fs",
                operation,
                exc,
                self._breaker.retry_after_s,
            )
        self._breaker.trip()
        metrics.CACHE_ERRORS.labels("redis", operation).inc()
