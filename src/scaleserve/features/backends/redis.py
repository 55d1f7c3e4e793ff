"""Feature values in Redis, shared by every worker and gateway.

One hash per (tenant, view, entity) (``RedisKeys.feature_row``): feature name -> the value's
event time (8 bytes) and its msgpack (``scaleserve.features.codec``). A read of any number of
entities is one pipeline of ``HMGET``s: one round trip. A write is a Lua script
(``lua/write_features.lua``) so that an older event never replaces a newer value; it touches
several keys, so this backend needs a single Redis, not a Cluster. The client must not
decode responses. Redis errors and timeouts surface as ``QueueUnavailable`` (503).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from typing import Any, cast

from redis.asyncio import Redis

from scaleserve.errors import QueueUnavailable
from scaleserve.features import codec
from scaleserve.features.store import (
    EntityFeatures,
    EntityRow,
    StoredValue,
    assemble,
    check_entity_ids,
    check_tenant,
    checked_rows,
)
from scaleserve.features.views import FeatureView
from scaleserve.queue.backends.redis_connection import REDIS_ERRORS
from scaleserve.redis_keys import RedisKeys

WRITE_CHUNK_ENTITIES = 500
"""Entities per script call: a long script blocks Redis for everyone else."""


class RedisFeatureStore:
    """See ``scaleserve.features.store.FeatureStore``."""

    def __init__(self, redis: Redis, keys: RedisKeys | None = None) -> None:
        self._redis = redis
        self._keys = keys or RedisKeys()
        lua = resources.files("scaleserve.features.backends") / "lua" / "write_features.lua"
        self._write = redis.register_script(lua.read_text())

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None  # the client belongs to whoever passed it in

    async def write_many(
        self, tenant: str, view: FeatureView, rows: Mapping[str, EntityRow]
    ) -> None:
        check_tenant(tenant)
        items = list(checked_rows(view, rows).items())
        for at in range(0, len(items), WRITE_CHUNK_ENTITIES):
            chunk = items[at : at + WRITE_CHUNK_ENTITIES]
            keys = [self._keys.feature_row(tenant, view.name, entity_id) for entity_id, _ in chunk]
            args = [arg for _, row in chunk for arg in _row_args(row)]
            with _reachable():
                await self._write(keys=keys, args=args)

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        check_tenant(tenant)
        ids = check_entity_ids(entity_ids)
        features = list(view.kinds)
        with _reachable():
            async with self._redis.pipeline(transaction=False) as pipe:
                for entity_id in ids:
                    pipe.hmget(self._keys.feature_row(tenant, view.name, entity_id), features)
                answers = cast(list[list[bytes | None]], await pipe.execute())
        return {
            entity_id: assemble(view, _stored(features, raw), now)
            for entity_id, raw in zip(ids, answers, strict=True)
        }


def _row_args(row: EntityRow) -> list[Any]:
    args: list[Any] = [repr(row.event_ts), len(row.values)]
    for feature, value in row.values.items():
        args += [feature, codec.encode_timed(row.event_ts, value)]
    return args


def _stored(features: list[str], raw: list[bytes | None]) -> dict[str, StoredValue]:
    return {f: codec.decode_timed(r) for f, r in zip(features, raw, strict=True) if r is not None}


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except REDIS_ERRORS as exc:
        raise QueueUnavailable(
            f"the feature store (Redis) is unreachable: {type(exc).__name__}"
        ) from exc
