"""The seam between the cache and where it keeps entries.

``CacheBackend`` is one tier: ``memory`` (in this gateway, bounded LRU) or ``redis`` (shared
by every gateway). Backends live in ``scaleserve.cache.backends``; ``TieredStore`` puts them
in order. An entry is a model's output as the worker sent it (JSON) with its two deadlines;
it crosses the network as msgpack, never pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

Tier = Literal["memory", "redis"]


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """One cached output."""

    output: bytes  # the item's output, JSON, exactly as the worker produced it
    fresh_until: float  # unix time after which it is served only as a stale fallback
    keep_until: float  # unix time after which it is gone

    def fresh(self, now: float) -> bool:
        return self.fresh_until > now

    @property
    def size_bytes(self) -> int:
        return len(self.output)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)


def encode(entry: Entry) -> bytes:
    return _encoder.encode(entry)


def decode(raw: bytes) -> Entry | None:
    """The entry in ``raw``, or ``None`` when it is not one (a foreign or corrupt value)."""
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError:
        return None


class CacheBackend(Protocol):
    """One tier of the cache. Keys are built by ``scaleserve.cache.keys``; ``model`` is the
    partition they belong to (bounds and purges are per model)."""

    tier: Tier

    async def get_many(self, model: str, keys: Sequence[str]) -> list[Entry | None]:
        """The entry under each key, ``None`` where there is none. A tier that cannot be
        reached answers ``None`` everywhere rather than failing the request."""
        ...

    async def put_many(self, model: str, entries: Sequence[tuple[str, Entry]]) -> None:
        """Store each ``(key, entry)`` until its ``keep_until``; best effort."""
        ...

    async def purge(self, model: str) -> int:
        """Drop every entry of ``model`` (all versions and scopes); returns how many."""
        ...

    async def close(self) -> None: ...
