"""Bulk materialisation from a Parquet file written by the test, batch by batch."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from scaleserve.errors import InvalidInput
from scaleserve.features.materialize import materialize_parquet
from tests.features.conftest import Store
from tests.features.test_join import CountingStore
from tests.features.views import USERS


def write_parquet(path: Path, rows: list[dict[str, object]], schema: pa.Schema) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=64)
    return path


SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("event_ts", pa.float64()),
        ("age", pa.int64()),
        ("spend_30d", pa.float64()),
        ("embedding", pa.list_(pa.float32())),
        ("note", pa.string()),  # not a feature: never read
    ]
)


def history(entities: int, versions: int) -> list[dict[str, object]]:
    """Each entity's rows at several event times, shuffled; version ``v`` is at time ``v``."""
    rows: list[dict[str, object]] = [
        {
            "user_id": f"u{e}",
            "event_ts": float(v),
            "age": e * 100 + v,
            "spend_30d": v / 4,
            "embedding": [float(v), 0.5],
            "note": "x",
        }
        for e in range(entities)
        for v in range(versions)
    ]
    random.Random(7).shuffle(rows)
    return rows


async def test_the_latest_row_of_each_entity_wins_across_batches(
    store: Store, tmp_path: Path
) -> None:
    path = write_parquet(tmp_path / "users.parquet", history(50, 6), SCHEMA)
    counting = CountingStore(store)
    writes: list[int] = []
    write_many = counting.write_many

    async def counted(tenant, view, rows):  # type: ignore[no-untyped-def]
        writes.append(len(rows))
        await write_many(tenant, view, rows)

    counting.write_many = counted  # type: ignore[method-assign]
    done = await materialize_parquet(counting, "acme", USERS, path, batch_rows=32)
    assert done.rows == 300
    assert done.features == ("age", "spend_30d", "embedding")
    assert len(writes) >= 300 // 32 and max(writes) <= 32  # streamed, a batch at a time
    found = await store.read_many("acme", USERS, [f"u{e}" for e in range(50)], now=5.0)
    for e in range(50):
        assert found[f"u{e}"].values == {
            "age": e * 100 + 5,
            "spend_30d": 1.25,
            "embedding": [5.0, 0.5],
        }


async def test_arrow_timestamps_are_event_times(store: Store, tmp_path: Path) -> None:
    schema = pa.schema(
        [("user_id", pa.int64()), ("at", pa.timestamp("ms", tz="UTC")), ("age", pa.int64())]
    )
    day = datetime(2025, 1, 2, tzinfo=UTC)
    older = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [{"user_id": 7, "at": day, "age": 2}, {"user_id": 7, "at": older, "age": 1}]
    path = write_parquet(tmp_path / "t.parquet", rows, schema)
    await materialize_parquet(store, "acme", USERS, path, time_column="at")
    now = day.timestamp()
    found = await store.read_many("acme", USERS, ["7"], now=now + 60)
    assert found["7"].values == {"age": 2}
    stale = await store.read_many("acme", USERS, ["7"], now=now + 61)
    assert stale["7"].stale == {"age"}


async def test_a_wrong_value_names_its_row_in_the_file(store: Store, tmp_path: Path) -> None:
    schema = pa.schema([SCHEMA.field(name) for name in ("user_id", "event_ts", "spend_30d")])
    rows = [
        {"user_id": f"u{n}", "event_ts": 1.0, "spend_30d": float("nan") if n == 45 else 2.0}
        for n in range(60)
    ]
    path = write_parquet(tmp_path / "bad.parquet", rows, schema)
    with pytest.raises(InvalidInput, match=r"^row 45, field 'spend_30d': feature 'spend_30d' mu"):
        await materialize_parquet(store, "acme", USERS, path, batch_rows=20)
    found = await store.read_many("acme", USERS, ["u0", "u59"], now=1.0)
    assert found["u0"].values == {"spend_30d": 2.0}  # the batches before it were written
    assert found["u59"].values == {}


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        (["event_ts", "age"], "no column 'user_id'"),
        (["user_id", "age"], "no column 'event_ts'"),
        (["user_id", "event_ts", "note"], "no column for a feature of view 'users'"),
    ],
)
async def test_a_file_without_the_needed_columns_is_refused(
    store: Store, tmp_path: Path, columns: list[str], match: str
) -> None:
    schema = pa.schema([SCHEMA.field(name) for name in columns])
    path = write_parquet(tmp_path / "f.parquet", [], schema)
    with pytest.raises(InvalidInput, match=match):
        await materialize_parquet(store, "acme", USERS, path)
