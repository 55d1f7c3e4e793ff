"""The join: a model's declared features, read for a whole batch and put into its items.

A model declares what it needs as ``FeatureNeed``s (a view, the field of its input that
holds the entity id). For a batch, ``join_batch`` reads each needed view once for all the
batch's entities (one ``read_many``, one round trip, per view) and returns each item with
the features added. A missing or stale feature takes the view's default; without one, that
item fails with ``FeatureUnavailable`` (a 422 naming the entity and the feature) and the
rest of the batch goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scaleserve.errors import ConfigError, InvalidInput
from scaleserve.features.store import EntityFeatures, FeatureStore, entity_id_of
from scaleserve.features.views import FeatureView, check_name


class FeatureUnavailable(InvalidInput):
    """A feature an item needs is missing or stale, and its view declares no default."""

    def __init__(self, view: str, entity_id: str, feature: str, why: str) -> None:
        message = (
            f"feature {feature!r} of view {view!r} is {why} for entity {entity_id[:64]!r} "
            "and has no default"
        )
        super().__init__(message, [{"loc": [feature], "msg": message, "type": f"feature_{why}"}])
        self.view = view
        self.entity_id = entity_id
        self.feature = feature


@dataclass(frozen=True)
class FeatureNeed:
    """Features of ``view`` that a model reads, for the entity named by the ``entity_field``
    of its input (the view's entity key unless given). ``features`` picks some of the view's
    (all by default); each goes into the item as ``prefix + feature``, replacing any value
    the client sent, so a client cannot forge a stored feature."""

    view: FeatureView
    entity_field: str = ""
    features: tuple[str, ...] = ()
    prefix: str = ""

    def __post_init__(self) -> None:
        if not self.entity_field:
            object.__setattr__(self, "entity_field", self.view.entity_key)
        check_name(self.entity_field, f"the entity field of a need of view {self.view.name!r}")
        unknown = [f for f in self.features if f not in self.view.kinds]
        if unknown:
            raise ConfigError(f"view {self.view.name!r} has no feature {unknown[0]!r}")
        if not self.features:
            object.__setattr__(self, "features", tuple(self.view.kinds))
        if self.prefix:
            check_name(self.prefix + "x", f"the prefix of a need of view {self.view.name!r}")


Joined = dict[str, Any] | InvalidInput
"""One item's outcome: the item with its features, or why it cannot run."""


async def join_batch(
    store: FeatureStore,
    needs: Sequence[FeatureNeed],
    items: Sequence[Mapping[str, Any]],
    tenant: str,
    now: float,
) -> list[Joined]:
    """Each of ``items`` (a tenant's batch) with the features of ``needs``, in order; an
    item that cannot have them is its error instead (``InvalidInput`` for a missing or
    invalid entity id, ``FeatureUnavailable`` for a missing or stale feature)."""
    outcomes: list[Joined] = [dict(item) for item in items]
    reads = [_read(store, need, outcomes, tenant, now) for need in needs]
    for need, found in zip(needs, await asyncio.gather(*reads), strict=True):
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, dict):
                outcomes[index] = _fill(need, outcome, found)
    return outcomes


async def join_items(
    store: FeatureStore,
    needs: Sequence[FeatureNeed],
    items: Sequence[Mapping[str, Any]],
    tenant: str,
    now: float,
) -> list[dict[str, Any]]:
    """``join_batch`` for a caller that fails as a whole: raises the first item's error."""
    joined = []
    for outcome in await join_batch(store, needs, items, tenant, now):
        if isinstance(outcome, InvalidInput):
            raise outcome
        joined.append(outcome)
    return joined


async def _read(
    store: FeatureStore, need: FeatureNeed, outcomes: list[Joined], tenant: str, now: float
) -> dict[str, EntityFeatures]:
    """One read for every entity of the batch; an item without a valid id fails here."""
    ids = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, dict):
            try:
                ids.append(entity_id_of(outcome, need.entity_field))
            except InvalidInput as exc:
                outcomes[index] = exc
    return await store.read_many(tenant, need.view, ids, now) if ids else {}


def _fill(need: FeatureNeed, item: dict[str, Any], found: Mapping[str, EntityFeatures]) -> Joined:
    view = need.view
    entity_id = entity_id_of(item, need.entity_field)
    features = found[entity_id]
    for feature in need.features:
        value = features.values.get(feature)
        if value is None:
            value = view.default(feature)
        if value is None:
            why = "stale" if feature in features.stale else "missing"
            return FeatureUnavailable(view.name, entity_id, feature, why)
        item[need.prefix + feature] = value
    return item
