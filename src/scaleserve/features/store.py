"""The seam between the features part and where feature values are kept.

``FeatureStore`` is implemented by ``backends.memory.MemoryFeatureStore`` (tests, docs),
``backends.sqlite.SqliteFeatureStore`` (embedded) and ``backends.redis.RedisFeatureStore``
(shared by every worker). Every call names the tenant whose features it reads or writes:
the tenant is part of every key and row, so a tenant never reads another's features.

Each feature of an entity is kept with its own event time: a write replaces a stored value
only when its event time is not older (so rows may arrive out of order, and a bulk load may
run in any order), and a value is stale once ``now - event_ts > view.ttl_s``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scaleserve.errors import InvalidInput, RequestError
from scaleserve.features.views import PYTHON_TYPES, FeatureValue, FeatureView
from scaleserve.tenancy.store import is_tenant_name

MAX_ENTITY_ID_CHARS = 256


@dataclass(frozen=True)
class EntityRow:
    """Values of some of a view's features for one entity, observed at ``event_ts`` (unix
    seconds). A feature left out is left as it is."""

    values: Mapping[str, FeatureValue]
    event_ts: float


@dataclass(frozen=True)
class EntityFeatures:
    """What a store holds for one entity: the fresh ``values``, and the features with no
    value (``missing``) or only a stale one (``stale``, left out of ``values``)."""

    values: Mapping[str, FeatureValue]
    missing: frozenset[str] = field(default_factory=frozenset)
    stale: frozenset[str] = field(default_factory=frozenset)


class FeatureStore(Protocol):
    """Feature values per tenant, view and entity. A store that cannot be reached raises
    ``QueueUnavailable``; a tenant name or entity id that cannot be one, ``RequestError``."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write_many(
        self, tenant: str, view: FeatureView, rows: Mapping[str, EntityRow]
    ) -> None:
        """Store ``rows`` (entity id -> row) in one step; values are checked against the
        view first (``InvalidInput`` naming the entity and feature; nothing is written)."""
        ...

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        """Every feature of ``view`` for each of ``entity_ids``, in one round trip; each id
        is in the answer (an unknown entity has every feature missing)."""
        ...


class DelegatingFeatureStore:
    """A ``FeatureStore`` that hands every call to ``store``: subclass it and override what
    a wrapper changes (coalescing reads, counting them)."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    async def write_many(
        self, tenant: str, view: FeatureView, rows: Mapping[str, EntityRow]
    ) -> None:
        await self.store.write_many(tenant, view, rows)

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        return await self.store.read_many(tenant, view, entity_ids, now)


StoredValue = tuple[float, FeatureValue]
"""A value as a backend keeps it: ``(event_ts, value)``."""


def check_tenant(tenant: str) -> str:
    """``tenant`` if a tenant can have that name (it is part of keys), else ``RequestError``."""
    if not is_tenant_name(tenant):
        raise RequestError(f"invalid tenant name {tenant[:64]!r}")
    return tenant


def check_entity_ids(entity_ids: Sequence[str]) -> list[str]:
    """The distinct ids, in order; ``InvalidInput`` for one that is not 1 to
    ``MAX_ENTITY_ID_CHARS`` characters."""
    for entity_id in entity_ids:
        if not isinstance(entity_id, str) or not 0 < len(entity_id) <= MAX_ENTITY_ID_CHARS:
            raise InvalidInput(
                f"entity id {str(entity_id)[:64]!r} must be a string of 1 to "
                f"{MAX_ENTITY_ID_CHARS} characters"
            )
    return list(dict.fromkeys(entity_ids))


def entity_id_of(item: Mapping[str, Any], field: str) -> str:
    """The entity id in ``item[field]`` (a string, or an integer written in decimal)."""
    value = item.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_ENTITY_ID_CHARS:
        return value
    raise InvalidInput(
        f"field {field!r} must hold an entity id: a string of 1 to {MAX_ENTITY_ID_CHARS} "
        "characters or an integer",
        [{"loc": [field], "msg": "an entity id is required", "type": "entity_id"}],
    )


def checked_rows(view: FeatureView, rows: Mapping[str, EntityRow]) -> dict[str, EntityRow]:
    """``rows`` with values as the view stores them; ``InvalidInput`` names the entity."""
    check_entity_ids(list(rows))
    checked = {}
    for entity_id, row in rows.items():
        try:
            checked[entity_id] = EntityRow(view.check_values(row.values), event_time(row.event_ts))
        except ValueError as exc:
            raise InvalidInput(f"entity {entity_id[:64]!r} of view {view.name!r}: {exc}") from None
    return checked


def event_time(value: object) -> float:
    """``value`` as an event time (finite unix seconds); ``ValueError`` otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ValueError(f"the event time must be a finite number of seconds, not {value!r:.80}")


def assemble(view: FeatureView, stored: Mapping[str, StoredValue], now: float) -> EntityFeatures:
    """An entity's answer from its stored values (features of the view only). A value of
    another type than the view's (written before the view changed it) counts as missing."""
    values: dict[str, FeatureValue] = {}
    missing = []
    stale = []
    for feature, kind in view.kinds.items():
        found = stored.get(feature)
        if found is None or type(found[1]) is not PYTHON_TYPES[kind]:
            missing.append(feature)
        elif view.ttl_s is not None and now - found[0] > view.ttl_s:
            stale.append(feature)
        else:
            values[feature] = found[1]
    return EntityFeatures(values, frozenset(missing), frozenset(stale))
