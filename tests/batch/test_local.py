"""``scaleserve batch`` on this machine: real worker processes, real files, kill -9."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
import pyarrow.parquet as pq
import pytest

from tests.batch.conftest import BATCH_APP, rows, write

SCORER = f"{BATCH_APP}:Scorer"
ROWS = 1200


def batch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scaleserve", "batch", *args],
        check=False, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )  # fmt: skip


def outputs(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()  # type: ignore[no-any-return]


def errors_of(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_every_row_is_scored_or_named_in_the_errors_file(tmp_path: Path, input_format: str) -> None:
    source = write(tmp_path / f"in.{input_format}", rows(ROWS))
    out = tmp_path / "out.parquet"
    done = batch(SCORER, "--input", str(source), "--output", str(out), "--key", "id",
                 "--chunk-rows", "250")  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = outputs(out)
    expected = [r for r in rows(ROWS) if r["x"] != 13]
    assert [w["row"] for w in written] == [int(r["id"][1:]) for r in expected]  # input order
    assert [w["id"] for w in written] == [r["id"] for r in expected]
    assert [w["output"] for w in written] == [
        {"double": 2 * r["x"], "label": r["label"]} for r in expected
    ]
    failed = errors_of(tmp_path / "out.errors.jsonl")
    assert [e["id"] for e in failed] == [r["id"] for r in rows(ROWS) if r["x"] == 13]
    assert all("13 is unlucky" in e["error"] for e in failed)
    assert not (tmp_path / "out.parquet.parts").exists()


def test_a_row_failing_the_models_type_is_failed_with_the_reason(tmp_path: Path) -> None:
    data = [
        {"id": "a", "x": 1},
        {"id": "b", "x": -5},
        {"id": "c", "x": "seven"},
        {"id": "d", "x": 2},
    ]
    out = tmp_path / "out.parquet"
    done = batch(SCORER, "--input", str(write(tmp_path / "in.jsonl", data)), "--output", str(out),
                 "--key", "id", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [w["id"] for w in outputs(out)] == ["a", "d"]
    failed = {e["id"]: e["error"] for e in errors_of(tmp_path / "out.errors.jsonl")}
    assert failed["b"] == "x: Input should be greater than or equal to 0"
    assert failed["c"].startswith("x: Input should be a valid integer")
    last = orjson.loads(done.stdout.splitlines()[-1])
    assert (last["event"], last["rows"], last["errors"]) == ("finished", 2, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column", "body"], "no column 'body'; its columns are id, x, label"),
        (["--key", "customer"], "no key column 'customer'"),
    ],
)
def test_a_missing_column_is_named_and_nothing_is_written(
    tmp_path: Path, args: list[str], message: str
) -> None:
    source = write(tmp_path / "in.parquet", rows(10))
    out = tmp_path / "out.parquet"
    done = batch(SCORER, "--input", str(source), "--output", str(out), *args)
    assert done.returncode == 2
    assert message in done.stderr and str(source) in done.stderr
    assert not out.exists()


def test_a_parquet_named_csv_is_refused(tmp_path: Path) -> None:
    source = write(tmp_path / "in.parquet", rows(10)).rename(tmp_path / "in.csv")
    done = batch(SCORER, "--input", str(source), "--output", str(tmp_path / "out.parquet"))
    assert done.returncode == 2
    assert f"{source}: not a CSV text file" in done.stderr


@pytest.fixture(scope="module")
def resume_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 2,000-row input and the output of one uninterrupted run over it."""
    folder = tmp_path_factory.mktemp("resume")
    source = write(folder / "in.parquet", rows(2000))
    reference = folder / "reference.parquet"
    done = batch(SCORER, "--input", str(source), "--output", str(reference), "--key", "id",
                 "--chunk-rows", "100")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return source, reference


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_at_a_random_point_it_resumes_to_the_same_output(
    tmp_path: Path, resume_input: tuple[Path, Path], seed: int
) -> None:
    source, reference = resume_input
    out = tmp_path / "out.parquet"
    args = ["--input", str(source), "--output", str(out), "--key", "id", "--chunk-rows", "100"]
    kill_after = random.Random(seed).randint(1, 18)  # committed chunks, of 20
    slow = subprocess.Popen(
        [sys.executable, "-m", "scaleserve", "batch", SCORER, *args],
        env={**os.environ, "BATCH_TEST_DELAY_S": "0.01"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    parts = tmp_path / "out.parquet.parts"
    workers = _wait_for_chunks(slow, parts, kill_after)
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "the workers outlived their killed batch"
    committed = len(list(parts.glob("chunk-*.parquet")))
    assert committed >= kill_after and not out.exists()

    done = batch(SCORER, *args, "--json")
    assert done.returncode == 0, done.stderr
    started = orjson.loads(done.stdout.splitlines()[0])
    assert started["rows"] + started["errors"] == 100 * committed  # not predicted again
    assert outputs(out) == outputs(reference)
    assert (tmp_path / "out.errors.jsonl").read_bytes() == reference.with_name(
        "reference.errors.jsonl"
    ).read_bytes()


def test_another_runs_chunks_are_not_mixed_in(
    tmp_path: Path, resume_input: tuple[Path, Path]
) -> None:
    source, _ = resume_input
    out = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"chunk_rows": 7}')
    args = ["--input", str(source), "--output", str(out), "--chunk-rows", "500"]
    refused = batch(SCORER, *args)
    assert refused.returncode == 2
    assert "holds the finished chunks of another run" in refused.stderr
    assert batch(SCORER, *args, "--restart").returncode == 0
    assert pq.read_metadata(out).num_rows == 2000 - 40


def _wait_for_chunks(
    process: subprocess.Popen[bytes], parts: Path, count: int
) -> list[psutil.Process]:
    """The run's worker processes, once ``count`` chunks are committed."""
    deadline = time.monotonic() + 120
    while len(list(parts.glob("chunk-*.parquet"))) < count:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no chunks were committed"
        time.sleep(0.005)  # another process's files: nothing to await
    return psutil.Process(process.pid).children(recursive=True)
