"""Where a batch run keeps its finished chunks until the output is whole.

``<output>.parts/`` holds the run's manifest and one Parquet file per finished chunk, with
the chunk's failed rows beside it. A chunk is committed by renaming its file into place
after its bytes are on disk, so a run killed at any moment leaves whole chunks or none;
started again it skips them. Once every chunk is there, the parts are joined in input
order into the output (and the errors file), each written aside and renamed into place,
and the folder is removed. A kill while joining leaves the parts, and the next start joins
them again.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from scaleserve.errors import ConfigError

MANIFEST = "manifest.json"
RUN_KEY = "run-key"
_PART = "chunk-{:08d}.parquet"
_PART_ERRORS = "chunk-{:08d}.errors.jsonl"


@dataclass(frozen=True)
class Summary:
    rows: int
    """Rows predicted and written to the output."""
    errors: int
    """Rows that failed, each in the errors file with its reason."""


class RunDir:
    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = output.with_name(output.name + ".parts")
        self.key = ""
        """Names this run (kept beside its manifest, so a resumed run has the same)."""

    def begin(self, manifest: dict[str, Any], restart: bool) -> set[int]:
        """The indexes of the chunks already committed by this same run (none if new)."""
        manifest = json.loads(json.dumps(manifest))  # as it reads back (tuples are lists)
        if restart:
            shutil.rmtree(self.path, ignore_errors=True)
        manifest_file = self.path / MANIFEST
        if manifest_file.exists():
            before = json.loads(manifest_file.read_text())
            if before != manifest:
                differs = _difference(before, manifest)
                raise ConfigError(
                    f"{self.path} holds the finished chunks of another run ({differs}); "
                    "pass --restart to start this one afresh"
                )
            self.key = self._run_key()
            return self.committed()
        self.path.mkdir(parents=True, exist_ok=True)
        self.key = self._run_key()
        _write_atomically(manifest_file, json.dumps(manifest, indent=1).encode())
        return set()

    def _run_key(self) -> str:
        """The run's key: read back, or made (and kept) the first time."""
        kept = self.path / RUN_KEY
        if kept.exists():
            return kept.read_text().strip()
        key = secrets.token_hex(12)
        _write_atomically(kept, key.encode())
        return key

    def committed(self) -> set[int]:
        return {
            int(part.name[6:14]) for part in self.path.glob("chunk-*.parquet") if part.is_file()
        }

    def committed_counts(self, indexes: set[int]) -> Summary:
        """Rows and errors of committed chunks (a resumed run's starting point)."""
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        rows = sum(pq.read_metadata(self.path / _PART.format(i)).num_rows for i in indexes)
        errors = sum(_count_lines(self.path / _PART_ERRORS.format(i)) for i in indexes)
        return Summary(rows, errors)

    def commit(self, index: int, table: Any, errors: list[dict[str, Any]]) -> None:
        """Commit one chunk: its failed rows, then its outputs (the commit itself)."""
        import pyarrow.parquet as pq

        lines = b"".join(orjson.dumps(e, default=str) + b"\n" for e in errors)
        _write_atomically(self.path / _PART_ERRORS.format(index), lines)
        part = self.path / _PART.format(index)
        staging = part.with_suffix(".tmp")
        pq.write_table(table, staging)
        _sync_and_rename(staging, part)

    def finish(self, chunks: int, errors_file: Path) -> Summary:
        """Join the ``chunks`` committed parts into the output and the errors file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = [self.path / _PART.format(i) for i in range(chunks)]
        schemas = [pq.read_schema(part) for part in parts]
        schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else None
        staging = self.output.with_name(self.output.name + ".tmp")
        rows = 0
        with pq.ParquetWriter(staging, schema or pa.schema([("row", pa.int64())])) as writer:
            for part in parts:
                table = pq.read_table(part)
                rows += table.num_rows
                writer.write_table(table.cast(schema))
        _sync_and_rename(staging, self.output)
        errors = self._join_errors(chunks, errors_file)
        shutil.rmtree(self.path)
        return Summary(rows, errors)

    def _join_errors(self, chunks: int, errors_file: Path) -> int:
        staging = errors_file.with_name(errors_file.name + ".tmp")
        count = 0
        with staging.open("wb") as out:
            for index in range(chunks):
                data = (self.path / _PART_ERRORS.format(index)).read_bytes()
                count += data.count(b"\n")
                out.write(data)
        if count == 0:
            staging.unlink()
            errors_file.unlink(missing_ok=True)
            return 0
        _sync_and_rename(staging, errors_file)
        return count


def _difference(before: dict[str, Any], now: dict[str, Any]) -> str:
    changed = [key for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)]
    return "it differs in " + ", ".join(changed)


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _write_atomically(path: Path, data: bytes) -> None:
    staging = path.with_name(path.name + ".tmp")
    staging.write_bytes(data)
    _sync_and_rename(staging, path)


def _sync_and_rename(staging: Path, final: Path) -> None:
    with staging.open("rb+") as file:
        os.fsync(file.fileno())
    os.replace(staging, final)
    folder = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
