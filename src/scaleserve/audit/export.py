"""Export a model's audit records to Parquet, a page at a time, so memory stays flat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaleserve.audit.records import FIELDS, AuditRecord
from scaleserve.audit.store import AuditStore

PAGE_SIZE = 10_000


def parquet_schema() -> Any:
    """The export's columns: ``AuditRecord``'s fields, ``ts`` as float unix seconds."""
    import pyarrow as pa  # type: ignore[import-untyped]

    text = pa.string()
    number, status = pa.float64(), pa.int32()
    types = [number, *[text] * 6, number, status, *[text] * 3]
    return pa.schema(
        [
            pa.field(name, kind, nullable=name in {"input", "output"})
            for name, kind in zip(FIELDS, types, strict=True)
        ]
    )


async def export_parquet(
    store: AuditStore,
    path: str | Path,
    *,
    model: str,
    since: float,
    until: float | None = None,
    tenant: str | None = None,
    page_size: int = PAGE_SIZE,
) -> int:
    """Write ``model``'s records with ``since <= ts < until`` (of ``tenant`` if given) to a
    Parquet file at ``path``, in ``(ts, request_id)`` order; returns how many rows."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    schema = parquet_schema()
    rows = 0
    after: tuple[float, str] | None = None
    with pq.ParquetWriter(str(path), schema) as writer:
        while True:
            page = await store.query(
                model=model, since=since, until=until, tenant=tenant, limit=page_size, after=after
            )
            if not page:
                break
            writer.write_table(_table(page, schema))
            rows += len(page)
            after = (page[-1].ts, page[-1].request_id)
    return rows


def _table(records: list[AuditRecord], schema: Any) -> Any:
    import pyarrow as pa

    columns = {name: [getattr(record, name) for record in records] for name in FIELDS}
    return pa.Table.from_pydict(columns, schema=schema)
