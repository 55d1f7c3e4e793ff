"""Feature values in a dict: for tests and examples; nothing outlives the process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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

_Key = tuple[str, str, str]  # tenant, view, entity


class MemoryFeatureStore:
    """See ``scaleserve.features.store.FeatureStore``."""

    def __init__(self) -> None:
        self._rows: dict[_Key, dict[str, StoredValue]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def write_many(
        self, tenant: str, view: FeatureView, rows: Mapping[str, EntityRow]
    ) -> None:
        check_tenant(tenant)
        for entity_id, row in checked_rows(view, rows).items():
            stored = self._rows.setdefault((tenant, view.name, entity_id), {})
            for feature, value in row.values.items():
                old = stored.get(feature)
                if old is None or old[0] <= row.event_ts:
                    stored[feature] = (row.event_ts, value)

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        check_tenant(tenant)
        return {
            entity_id: assemble(view, self._stored(tenant, view, entity_id), now)
            for entity_id in check_entity_ids(entity_ids)
        }

    def _stored(self, tenant: str, view: FeatureView, entity_id: str) -> dict[str, StoredValue]:
        """A copy: a caller changing a list it read must not change the store."""
        stored = self._rows.get((tenant, view.name, entity_id), {})
        return {f: (ts, list(v) if isinstance(v, list) else v) for f, (ts, v) in stored.items()}
