"""The semantic index shared through Redis: every text a gateway indexes for a semantic
cache goes on a stream per model, and every gateway adds the other gateways' texts to its
own index (the recent ones at start, then as they come).

Without it each gateway could only find neighbours among the texts it computed itself.
Entries are plain fields (key, partition, text, vector as float32 bytes): never pickle.
The stream is trimmed to about the index's own bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from scaleserve.background import reraise_if_cancelled, stop_task
from scaleserve.cache.guard import signature
from scaleserve.cache.semantic import Neighbour, SemanticIndex
from scaleserve.cache.semantic_lookup import Probe
from scaleserve.errors import ServingError
from scaleserve.observe import metrics

log = logging.getLogger(__name__)

_READ_BLOCK_MS = 1000
_READ_COUNT = 500


class NeighbourFeed:
    """One gateway's end of the shared semantic indexes; ``follow`` each semantic model's
    stream (``scaleserve.cache.keys.semantic_stream``) and index before ``start``."""

    def __init__(self, url: str, timeout_s: float = 0.5) -> None:
        self._url = url
        self._streams: dict[str, str] = {}
        self._indexes: dict[str, SemanticIndex] = {}
        self._origin = uuid.uuid4().hex.encode()
        self._client: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False

    def follow(self, model: str, stream: str, index: SemanticIndex) -> None:
        self._streams[model] = stream
        self._indexes[model] = index

    async def start(self) -> None:
        """Take in the recent texts of every stream, then follow them."""
        last_ids: dict[Any, Any] = dict.fromkeys(self._streams.values(), "0-0")
        for model, stream in self._streams.items():
            with contextlib.suppress(RedisError, OSError):
                bound = self._indexes[model].max_entries
                entries: Any = await self._client.xrevrange(stream, count=bound)
                for entry_id, fields in reversed(entries):
                    self._take(model, fields)
                    last_ids[stream] = entry_id
        self._reader = asyncio.create_task(self._follow(last_ids))

    async def close(self) -> None:
        # A blocking XREAD does not always give way to a cancellation: ask, wait, then cancel.
        self._stopping = True
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), _READ_BLOCK_MS / 1000 + 2)
        await stop_task(self._reader)
        await self._client.aclose()

    async def publish(self, model: str, shared: Sequence[Probe]) -> None:
        """Best effort: a text that cannot be shared stays in this gateway's index only."""
        stream, bound = self._streams[model], self._indexes[model].max_entries
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for item in shared:
                    fields: dict[Any, Any] = {
                        "k": item.neighbour.key,
                        "p": item.neighbour.partition,
                        "t": item.text,
                        "v": np.asarray(item.vector, dtype=np.float32).tobytes(),
                        "o": self._origin,
                    }
                    pipe.xadd(stream, fields, maxlen=bound, approximate=True)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning(
                "could not share %d texts of %r's semantic cache: %s", len(shared), model, exc
            )
            metrics.CACHE_ERRORS.labels("semantic", "share").inc()

    async def purge(self, model: str) -> None:
        """Drop ``model``'s shared texts (the purge channel clears the indexes)."""
        if model not in self._streams:
            return
        try:
            await self._client.delete(self._streams[model])
        except (RedisError, OSError) as exc:
            raise ServingError(f"the cache's Redis tier cannot be reached: {exc}") from exc

    def _take(self, model: str, fields: dict[bytes, bytes]) -> None:
        """Index a text another gateway shared."""
        if fields.get(b"o") == self._origin:
            return  # our own: already indexed
        try:
            text = fields[b"t"].decode()
            neighbour = Neighbour(fields[b"k"].decode(), fields[b"p"].decode(), signature(text))
            vector = np.frombuffer(fields[b"v"], dtype=np.float32)
        except (KeyError, UnicodeDecodeError, ValueError):
            return  # not one of ours
        self._indexes[model].add(vector, neighbour)

    async def _follow(self, last_ids: dict[Any, Any]) -> None:
        models = {stream: model for model, stream in self._streams.items()}
        # Its own connection, whose timeout outlasts a blocking read of a quiet stream.
        client: Redis = Redis.from_url(self._url, socket_timeout=_READ_BLOCK_MS / 1000 + 10)
        delay_s = 0.1
        try:
            while not self._stopping:
                try:
                    found: Any = await client.xread(
                        last_ids, count=_READ_COUNT, block=_READ_BLOCK_MS
                    )
                except (RedisError, OSError) as exc:
                    reraise_if_cancelled(exc)
                    log.warning("shared semantic index lost (%s); retrying in %.1fs", exc, delay_s)
                    await asyncio.sleep(delay_s)
                    delay_s = min(delay_s * 2, 5.0)
                    continue
                delay_s = 0.1
                for stream, entries in found:
                    name = stream.decode() if isinstance(stream, bytes) else stream
                    for entry_id, fields in entries:
                        self._take(models[name], fields)
                        last_ids[name] = entry_id
        finally:
            await client.aclose()
