"""Bulk materialisation: a Parquet file of feature rows into a store, a record batch at a
time, so memory stays flat whatever the file's size.

The file has a column for the view's entity key, one for the event time (a number of unix
seconds, or an Arrow timestamp) and one per feature it fills; other columns are not read.
The latest event of each feature of each entity wins, across the whole file: within a batch
by ``ingest.parse_records``, across batches by the store, which never lets an older event
replace a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from scaleserve.errors import InvalidInput
from scaleserve.features.ingest import TIME_FIELD, parse_records, write_latest
from scaleserve.features.store import FeatureStore
from scaleserve.features.views import FeatureView

BATCH_ROWS = 8192
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


@dataclass(frozen=True)
class Materialized:
    rows: int
    features: tuple[str, ...]
    """The view's features the file had columns for."""


async def materialize_parquet(
    store: FeatureStore,
    tenant: str,
    view: FeatureView,
    path: str | Path,
    *,
    time_column: str = TIME_FIELD,
    batch_rows: int = BATCH_ROWS,
) -> Materialized:
    """Write the rows of the Parquet file at ``path`` into ``tenant``'s ``view``.
    ``InvalidInput`` for a file without the needed columns or with a wrong value (naming
    its row and column; the batches before it stay written)."""
    parquet = pq.ParquetFile(path)
    features = _feature_columns(view, parquet.schema_arrow, time_column)
    columns = [view.entity_key, time_column, *features]
    rows = 0
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        records = _records(batch, time_column)
        latest, count = parse_records(view, records, time_field=time_column, first_row=rows)
        await write_latest(store, tenant, view, latest)
        rows += count
    return Materialized(rows, features)


def _feature_columns(view: FeatureView, schema: Any, time_column: str) -> tuple[str, ...]:
    names = set(schema.names)
    for needed in (view.entity_key, time_column):
        if needed not in names:
            raise InvalidInput(f"the Parquet file has no column {needed!r}")
    features = tuple(f for f in view.kinds if f in names)
    if not features:
        raise InvalidInput(f"the Parquet file has no column for a feature of view {view.name!r}")
    return features


def _records(batch: Any, time_column: str) -> list[dict[str, Any]]:
    """The batch's rows as dicts, with the event time in unix seconds."""
    times = batch.column(time_column)
    if pa.types.is_timestamp(times.type):
        seconds = pc.divide(pc.cast(times, pa.int64()), float(_PER_SECOND[times.type.unit]))
        batch = batch.set_column(batch.schema.get_field_index(time_column), time_column, seconds)
    records: list[dict[str, Any]] = batch.to_pylist()
    return records
