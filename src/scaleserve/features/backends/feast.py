"""Feature values read from a Feast repository's online store, through Feast's own SDK.

For teams that already run Feast: a scaleserve ``FeatureView`` is read from the Feast
feature view of the same name, each feature as the ref ``"<view>:<feature>"``, each entity
as the row ``{view.entity_key: id}`` (the id converted to the join key's Feast type, Int64,
Int32 or String). One ``read_many`` is one ``get_online_features`` call for every entity.

- **Writing**: Feast is written with Feast's own tools (``feast materialize``,
  ``FeatureStore.push``); ``write_many`` refuses.
- **Missing**: a value Feast returns as ``None`` (an unknown entity, a null) is missing, and
  so is a value whose type is not the view's (e.g. a string where an int is declared).
- **Staleness**: Feast's online store keeps each entity's latest row; its event time (whole
  seconds, as the SDK gives it) marks a value stale against the view's ``ttl_s``, as on the
  other backends. Feast's own ``ttl`` is not applied by Feast's online reads.
- **Tenancy**: Feast has no tenants, and a repository is one project with one registry, so
  a ``FeastFeatureStore`` serves exactly one tenant (``tenant``, ``"default"`` unless
  given); a call for any other tenant raises ``RequestError`` rather than read features
  that are not that tenant's. Serve several tenants with one store (one repository) each.

The SDK blocks: it runs in one thread of the store's own, so the event loop never waits on
it and calls never share Feast's SQLite connection at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import feast
from feast.errors import FeatureViewNotFoundException
from feast.types import PrimitiveFeastType

from scaleserve.errors import ConfigError, RequestError
from scaleserve.features.store import (
    EntityFeatures,
    EntityRow,
    StoredValue,
    assemble,
    check_entity_ids,
    check_tenant,
)
from scaleserve.features.views import INT_MAX, INT_MIN, FeatureView
from scaleserve.tenancy.records import DEFAULT_TENANT

_T = TypeVar("_T")
_DECIMAL = re.compile(r"-?[0-9]{1,19}")
_TS_SUFFIX = "__ts"  # what ``OnlineResponse.to_dict(include_event_timestamps=True)`` adds

JoinKey = Callable[[str], int | str | None]
"""A scaleserve entity id as the Feast join key's value; ``None``: no entity can have it."""


class FeastFeatureStore:
    """See ``scaleserve.features.store.FeatureStore``; reads only, for one tenant.

    ``repo_path`` is the Feast repository (the folder of its ``feature_store.yaml``).
    """

    def __init__(self, repo_path: str | Path, tenant: str = DEFAULT_TENANT) -> None:
        self.repo_path = Path(repo_path)
        self.tenant = check_tenant(tenant)
        self._feast: feast.FeatureStore | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._join_keys: dict[FeatureView, JoinKey] = {}

    async def open(self) -> None:
        if not (self.repo_path / "feature_store.yaml").is_file():
            raise ConfigError(f"no Feast repository at {self.repo_path} (no feature_store.yaml)")
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feast")
        self._feast = await self._run(feast.FeatureStore, repo_path=str(self.repo_path))

    async def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        self._thread = None
        self._feast = None
        self._join_keys.clear()

    async def write_many(
        self, tenant: str, view: FeatureView, rows: Mapping[str, EntityRow]
    ) -> None:
        raise RequestError(
            f"feature view {view.name!r} is read from a Feast repository, which scaleserve "
            "does not write: write it with Feast's own tools (`feast materialize`, "
            "`FeatureStore.push`)"
        )

    async def read_many(
        self, tenant: str, view: FeatureView, entity_ids: Sequence[str], now: float
    ) -> dict[str, EntityFeatures]:
        self._check_tenant(tenant)
        ids = check_entity_ids(entity_ids)
        join_key = self._join_keys.get(view)
        if join_key is None:
            join_key = await self._run(self._resolve, view)
        keys = {entity_id: join_key(entity_id) for entity_id in ids}
        known = {entity_id: key for entity_id, key in keys.items() if key is not None}
        found = await self._run(self._read, view, list(known.values())) if known else []
        stored = dict(zip(known, found, strict=True))
        return {entity_id: assemble(view, stored.get(entity_id, {}), now) for entity_id in ids}

    def _check_tenant(self, tenant: str) -> None:
        if tenant != self.tenant:
            raise RequestError(
                f"tenant {tenant[:64]!r} has no Feast features here: the Feast repository "
                f"{self.repo_path.name!r} serves tenant {self.tenant!r} only"
            )

    async def _run(self, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if self._thread is None:
            raise RuntimeError("the Feast feature store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: call(*args, **kwargs))

    def _store(self) -> feast.FeatureStore:
        if self._feast is None:
            raise RuntimeError("the Feast feature store is not open")
        return self._feast

    def _resolve(self, view: FeatureView) -> JoinKey:
        """(In the SDK's thread.) How ids become the Feast view's join key; ``ConfigError``
        when the Feast view is not there or lacks the key or a feature."""
        try:
            feast_view = self._store().get_feature_view(view.name)
        except FeatureViewNotFoundException:
            raise ConfigError(
                f"the Feast repository {self.repo_path} has no feature view {view.name!r}"
            ) from None
        lacking = sorted(set(view.kinds) - {field.name for field in feast_view.features})
        if lacking:
            raise ConfigError(f"Feast feature view {view.name!r} has no feature {lacking[0]!r}")
        columns = {column.name: column.dtype for column in feast_view.entity_columns}
        join_key = _join_key(view, columns.get(view.entity_key))
        self._join_keys[view] = join_key
        return join_key

    def _read(self, view: FeatureView, keys: list[int | str]) -> list[dict[str, StoredValue]]:
        """(In the SDK's thread.) Each entity's values and event times, in order of ``keys``."""
        response = self._store().get_online_features(
            features=[f"{view.name}:{feature}" for feature in view.kinds],
            entity_rows=[{view.entity_key: key} for key in keys],
            full_feature_names=True,
        )
        columns = response.to_dict(include_event_timestamps=True)
        stored: list[dict[str, StoredValue]] = [{} for _ in keys]
        for feature in view.kinds:
            name = f"{view.name}__{feature}"
            pairs = zip(columns[name + _TS_SUFFIX], columns[name], strict=True)
            for row, (event_ts, value) in zip(stored, pairs, strict=True):
                checked = _checked(view, feature, value)
                if checked is not None:
                    row[feature] = (float(event_ts), checked)
        return stored


def _checked(view: FeatureView, feature: str, value: object) -> Any:
    """``value`` as the view stores it, or ``None`` (missing) for a null or a wrong type."""
    if value is None:
        return None
    try:
        return view.check_value(feature, value)
    except ValueError:
        return None


def _join_key(view: FeatureView, dtype: object) -> JoinKey:
    if dtype == PrimitiveFeastType.INT64:
        return _as_int
    if dtype == PrimitiveFeastType.INT32:
        return _as_int32
    if dtype == PrimitiveFeastType.STRING:
        return str
    raise ConfigError(
        f"Feast feature view {view.name!r} must have the join key {view.entity_key!r} of type "
        f"Int64, Int32 or String (it has {dtype!r})"
    )


def _as_int(entity_id: str, low: int = INT_MIN, high: int = INT_MAX) -> int | None:
    """``entity_id`` as an integer key; ``None`` if it is not one (no entity has it)."""
    if _DECIMAL.fullmatch(entity_id) is None:
        return None
    value = int(entity_id)
    return value if low <= value <= high else None


def _as_int32(entity_id: str) -> int | None:
    return _as_int(entity_id, -(2**31), 2**31 - 1)
