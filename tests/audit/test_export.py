"""Parquet export: what the store keeps, paged, read back with pyarrow."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from scaleserve.audit.export import export_parquet
from scaleserve.audit.records import FIELDS, AuditRecord
from scaleserve.audit.store import AuditStore
from tests.audit.conftest import record


async def test_export_round_trip_in_pages(store: AuditStore, tmp_path: Path):
    records = [record(2000.0 + n // 2, f"r{n:03}", output=f'{{"n": {n}}}') for n in range(23)]
    await store.write_many([*records, record(2001.0, "x", tenant="other"), record(1.0, "old")])
    path = tmp_path / "audit.parquet"
    rows = await export_parquet(store, path, model="echo", since=1000.0, tenant="acme", page_size=5)
    assert rows == 23
    table = pq.read_table(path)
    assert table.column_names == list(FIELDS)
    assert [AuditRecord(**row) for row in table.to_pylist()] == records
    assert pq.ParquetFile(path).metadata.num_row_groups == 5  # one per page


async def test_export_of_nothing_is_an_empty_file(store: AuditStore, tmp_path: Path):
    path = tmp_path / "none.parquet"
    assert await export_parquet(store, path, model="echo", since=0.0) == 0
    assert pq.read_table(path).num_rows == 0
