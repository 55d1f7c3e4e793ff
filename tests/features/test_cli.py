"""``scaleserve features load``: a Parquet file into a tenant's view, from the shell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from scaleserve.features.backends.sqlite import SqliteFeatureStore
from scaleserve.scale.composition import FEATURES_DB_FILE
from tests.fixtures.features_app import USERS

APP = Path(__file__).parents[1] / "fixtures" / "features_app.py"


def _load(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "scaleserve", "features", "load", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


async def test_a_parquet_file_is_loaded_latest_row_winning(tmp_path: Path) -> None:
    table = pa.table(
        {
            "user_id": ["ann", "bob", "ann"],
            "event_ts": [100.0, 100.0, 200.0],
            "age": [30, 40, 31],
            "spend": [1.5, 2.5, None],
            "ignored": ["x", "y", "z"],
        }
    )
    path = tmp_path / "users.parquet"
    pq.write_table(table, path)
    done = _load(str(APP), "users", str(path), "--tenant", "acme", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "view": "users", "tenant": "acme", "rows": 3, "features": ["age", "spend"],
    }  # fmt: skip
    store = SqliteFeatureStore(tmp_path / FEATURES_DB_FILE)
    await store.open()
    found = await store.read_many("acme", USERS, ["ann", "bob"], now=300.0)
    await store.close()
    assert found["ann"].values == {"age": 31, "spend": 1.5}
    assert found["bob"].values == {"age": 40, "spend": 2.5}


def test_an_unknown_view_or_a_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "users.parquet"
    pq.write_table(pa.table({"user_id": ["a"], "age": [1]}), path)
    unknown = _load(str(APP), "nope", str(path), "--tenant", "acme", "--data-dir", str(tmp_path))
    assert unknown.returncode == 2 and "no feature view 'nope'" in unknown.stderr
    no_time = _load(str(APP), "users", str(path), "--tenant", "acme", "--data-dir", str(tmp_path))
    assert no_time.returncode == 2 and "no column 'event_ts'" in no_time.stderr
