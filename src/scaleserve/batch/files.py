"""Reading an input file in fixed chunks of rows, whatever its format.

Parquet, CSV and JSON Lines are read as streams (a record batch, a CSV block, a line at a
time), so memory does not grow with the file. Chunk ``n`` always holds rows
``[n * chunk_rows, (n + 1) * chunk_rows)``: a resumed run cuts the file exactly as the
first one did. A file that is not what its extension says is refused by name before any
row is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from scaleserve.errors import ConfigError

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
           ".ndjson": "jsonl"}  # fmt: skip
_PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 64 * 1024
_CSV_BLOCK_BYTES = 1 << 20


class InputFileError(ConfigError):
    """The input file cannot be read as what it claims to be (names the file and why)."""


@dataclass(frozen=True)
class InputFile:
    path: Path
    format: str
    columns: tuple[str, ...]
    rows: int
    """Rows in the file: exact for Parquet, counted as lines for text."""


@dataclass(frozen=True)
class Chunk:
    index: int
    first_row: int
    rows: list[dict[str, Any]]


def open_input(path: Path) -> InputFile:
    """The file's format, columns and row count; refuses a file that is not its format."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(
            f"{path}: unknown format {path.suffix!r}; use one of {', '.join(sorted(FORMATS))}"
        )
    _check_magic(path, kind)
    if kind == "parquet":
        return _parquet_input(path)
    if kind == "csv":
        return InputFile(path, kind, _csv_columns(path), _count_lines(path) - 1)
    return InputFile(path, kind, _jsonl_columns(path), _count_lines(path))


def read_chunks(source: InputFile, columns: list[str], chunk_rows: int) -> Iterator[Chunk]:
    """The file's rows (only ``columns``) in chunks of ``chunk_rows``, in order."""
    rows = _rows(source, columns)
    index = 0
    while True:
        batch = _take(rows, chunk_rows)
        if not batch:
            return
        yield Chunk(index, index * chunk_rows, batch)
        index += 1


def _take(rows: Iterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    taken = []
    for row in rows:
        taken.append(row)
        if len(taken) == count:
            break
    return taken


def _rows(source: InputFile, columns: list[str]) -> Iterator[dict[str, Any]]:
    if source.format == "parquet":
        return _parquet_rows(source.path, columns)
    if source.format == "csv":
        return _csv_rows(source.path, columns)
    return _jsonl_rows(source.path, columns)


def _check_magic(path: Path, kind: str) -> None:
    with path.open("rb") as file:
        head = file.read(_SNIFF_BYTES)
    if kind == "parquet":
        if not head.startswith(_PARQUET_MAGIC):
            raise InputFileError(f"{path}: not a Parquet file (it does not start with PAR1)")
        return
    if b"\x00" in head:
        raise InputFileError(f"{path}: not a {kind.upper()} text file (it holds binary data)")
    if head.startswith(_PARQUET_MAGIC):
        raise InputFileError(f"{path}: a Parquet file named {path.suffix}; rename it .parquet")


def _parquet_input(path: Path) -> InputFile:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        meta = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError alike here
        raise InputFileError(f"{path}: not a readable Parquet file ({exc})") from None
    return InputFile(path, "parquet", tuple(meta.schema_arrow.names), meta.metadata.num_rows)


def _parquet_rows(path: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    # Without pre-buffering a row group's column chunks are read as they are decoded: with
    # it, peak memory grew 60 % from 100,000 to 1,000,000 rows; without, 20 %.
    reader = pq.ParquetFile(path, pre_buffer=False)
    for batch in reader.iter_batches(batch_size=4096, columns=columns):
        yield from batch.to_pylist()


def _csv_columns(path: Path) -> tuple[str, ...]:
    import pyarrow.csv as pcsv  # type: ignore[import-untyped]

    try:
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES))
    except Exception as exc:
        raise InputFileError(f"{path}: not a readable CSV file ({exc})") from None
    names = tuple(reader.schema.names)
    reader.close()
    return names


def _csv_rows(path: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    """Every value as the text it is in the file: the model's types convert it, as they
    convert a JSON string (a column's guessed type could change between blocks)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(
        include_columns=columns, column_types=dict.fromkeys(columns, pa.string())
    )
    reader = pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES), convert_options=convert
    )
    try:
        for batch in reader:
            yield from batch.to_pylist()
    except pa.ArrowInvalid as exc:
        raise InputFileError(f"{path}: bad CSV ({exc})") from None
    finally:
        reader.close()


def _jsonl_columns(path: Path) -> tuple[str, ...]:
    """The keys of the first object (later objects may add or omit keys: missing is null)."""
    with path.open("rb") as file:
        for number, line in enumerate(file, 1):
            if line.strip():
                return tuple(_jsonl_object(path, number, line))
    return ()


def _jsonl_rows(path: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    with path.open("rb") as file:
        for number, line in enumerate(file, 1):
            if line.strip():
                row = _jsonl_object(path, number, line)
                yield {name: row.get(name) for name in columns}


def _jsonl_object(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputFileError(f"{path}: line {number} is not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise InputFileError(f"{path}: line {number} is not a JSON object")
    return row


def _count_lines(path: Path) -> int:
    """Lines, read in blocks: the progress bar's total (an estimate where a CSV value holds
    a newline or a JSON Lines file has blank lines)."""
    count = 0
    last = b"\n"
    with path.open("rb") as file:
        while block := file.read(1 << 22):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def file_identity(path: Path) -> dict[str, Any]:
    """What tells a resumed run that the input is the file it began with."""
    stat = os.stat(path)
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
