"""Input files for the batch tests: the same rows as Parquet, CSV and JSON Lines."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"
BATCH_APP = FIXTURES / "batch_app.py"


def rows(count: int) -> list[dict[str, Any]]:
    """Rows ``id``, ``x``, ``label``: ``x`` cycles through 0..49, so 13 comes every 50."""
    return [{"id": f"r{n}", "x": n % 50, "label": f"l{n % 7}"} for n in range(count)]


def write(path: Path, data: list[dict[str, Any]], row_group_size: int = 700) -> Path:
    """``data`` as the format ``path``'s extension names."""
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(data), path, row_group_size=row_group_size)
    elif path.suffix == ".csv":
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(data[0]))
            writer.writeheader()
            writer.writerows(data)
    else:
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in data))
    return path


@pytest.fixture(params=["parquet", "csv", "jsonl"])
def input_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)
