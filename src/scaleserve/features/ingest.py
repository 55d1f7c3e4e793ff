"""Ingestion: rows of feature values as clients send them, checked and written.

A record is a flat mapping: the view's entity key, the event time (``event_ts``, unix
seconds) and some of the view's features; a ``None`` value means "no value in this row".
Every problem is reported at once, each naming the row and the field. When an entity comes
several times, the latest event of each of its features wins (the stores keep the latest
too, so batches may come in any order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scaleserve.errors import InvalidInput
from scaleserve.features.store import (
    EntityRow,
    FeatureStore,
    StoredValue,
    entity_id_of,
    event_time,
)
from scaleserve.features.views import FeatureValue, FeatureView

TIME_FIELD = "event_ts"
MAX_REPORTED_ERRORS = 20

Latest = dict[str, dict[str, StoredValue]]
"""Entity id -> feature -> its latest ``(event_ts, value)``."""


async def ingest(
    store: FeatureStore,
    tenant: str,
    view: FeatureView,
    records: Iterable[Mapping[str, Any]],
    *,
    time_field: str = TIME_FIELD,
) -> int:
    """Check ``records`` and write them to ``tenant``'s ``view``: the number of records.
    ``InvalidInput`` (nothing written) names each wrong row and field."""
    latest, count = parse_records(view, records, time_field=time_field)
    await write_latest(store, tenant, view, latest)
    return count


def parse_records(
    view: FeatureView,
    records: Iterable[Mapping[str, Any]],
    *,
    time_field: str = TIME_FIELD,
    first_row: int = 0,
) -> tuple[Latest, int]:
    """The latest value of each feature of each entity in ``records``, and how many records
    there were; ``InvalidInput`` lists the problems (rows numbered from ``first_row``)."""
    latest: Latest = {}
    errors: list[dict[str, Any]] = []
    row = first_row - 1
    for row, record in enumerate(records, start=first_row):
        parsed = _parse(view, record, time_field, row, errors)
        if parsed is not None:
            _keep_latest(latest, *parsed)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(f"{errors[0]['msg']}{more}", errors[:MAX_REPORTED_ERRORS])
    return latest, row + 1 - first_row


async def write_latest(store: FeatureStore, tenant: str, view: FeatureView, latest: Latest) -> None:
    """Write what ``parse_records`` found: one ``write_many`` per distinct event time an
    entity has (usually one in all)."""
    for rows in _layers(latest):
        await store.write_many(tenant, view, rows)


def _parse(
    view: FeatureView,
    record: Mapping[str, Any],
    time_field: str,
    row: int,
    errors: list[dict[str, Any]],
) -> tuple[str, float, dict[str, FeatureValue]] | None:
    """One record as (entity id, event time, values), or ``None`` with its errors noted."""
    before = len(errors)
    entity_id = _field(errors, row, view.entity_key, lambda: entity_id_of(record, view.entity_key))
    event_ts = _field(errors, row, time_field, lambda: event_time(record.get(time_field)))
    values: dict[str, FeatureValue] = {}
    for name, value in record.items():
        if name in (view.entity_key, time_field) or value is None:
            continue
        checked = _field(errors, row, name, lambda n=name, v=value: view.check_value(n, v))
        if checked is not None:
            values[name] = checked
    if len(errors) > before or entity_id is None or event_ts is None:
        return None
    return entity_id, event_ts, values


def _field(errors: list[dict[str, Any]], row: int, name: str, check: Any) -> Any:
    try:
        return check()
    except (ValueError, InvalidInput) as exc:
        message = f"row {row}, field {name[:64]!r}: {exc}"
        errors.append({"loc": [row, name], "msg": message, "type": "invalid_feature_row"})
        return None


def _keep_latest(
    latest: Latest, entity_id: str, event_ts: float, values: dict[str, FeatureValue]
) -> None:
    stored = latest.setdefault(entity_id, {})
    for feature, value in values.items():
        old = stored.get(feature)
        if old is None or old[0] <= event_ts:
            stored[feature] = (event_ts, value)


def _layers(latest: Latest) -> list[dict[str, EntityRow]]:
    """Rows to write: layer k holds the k-th distinct event time of each entity."""
    layers: list[dict[str, EntityRow]] = []
    for entity_id, features in latest.items():
        by_time: dict[float, dict[str, FeatureValue]] = {}
        for feature, (event_ts, value) in features.items():
            by_time.setdefault(event_ts, {})[feature] = value
        for depth, event_ts in enumerate(sorted(by_time)):
            if depth == len(layers):
                layers.append({})
            layers[depth][entity_id] = EntityRow(by_time[event_ts], event_ts)
    return layers
