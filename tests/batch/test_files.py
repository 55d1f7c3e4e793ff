"""Reading inputs in fixed chunks, and refusing files that are not what they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaleserve.batch.files import InputFileError, open_input, read_chunks
from tests.batch.conftest import rows, write


def test_every_format_reads_the_same_rows_in_fixed_chunks(
    tmp_path: Path, input_format: str
) -> None:
    path = write(tmp_path / f"in.{input_format}", rows(2500), row_group_size=333)
    source = open_input(path)
    assert source.columns == ("id", "x", "label")
    assert source.rows == 2500
    chunks = list(read_chunks(source, ["x", "id"], chunk_rows=1000))
    assert [(c.index, c.first_row, len(c.rows)) for c in chunks] == [
        (0, 0, 1000), (1, 1000, 1000), (2, 2000, 500),
    ]  # fmt: skip
    flat = [row for chunk in chunks for row in chunk.rows]
    expected = [{"x": r["x"], "id": r["id"]} for r in rows(2500)]
    if input_format == "csv":  # CSV values stay text: the model's types convert them
        expected = [{"x": str(r["x"]), "id": r["id"]} for r in expected]
    assert flat == expected


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("in.parquet", b"id,x\n1,2\n", "not a Parquet file"),
        ("in.csv", b"PAR1\x00\x00garbage", "binary data"),
        ("in.jsonl", b'{"x": 1}\n{"x": \n', "line 2 is not JSON"),
        ("in.jsonl", b"[1, 2]\n", "line 1 is not a JSON object"),
        ("in.xlsx", b"whatever", "unknown format '.xlsx'"),
    ],
)
def test_a_file_that_is_not_what_it_says_is_refused_by_name(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message) as caught:
        _read_all(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        open_input(tmp_path / "absent.parquet")


def test_json_lines_may_omit_keys(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "x": 1}\n\n{"id": "b"}\n')
    chunks = list(read_chunks(open_input(path), ["id", "x"], 10))
    assert chunks[0].rows == [{"id": "a", "x": 1}, {"id": "b", "x": None}]


def _read_all(path: Path) -> None:
    source = open_input(path)
    for _ in read_chunks(source, list(source.columns), 10):
        pass
