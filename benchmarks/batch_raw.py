"""The embeddings model's raw in-process throughput over a Parquet file's texts: ``predict``
called directly on batches of ``--batch-size``, nothing else. Prints one JSON line.

    python benchmarks/batch_raw.py in.parquet --column text --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
from raw_throughput import load_model

APP = Path(__file__).parents[1] / "examples" / "embeddings" / "app.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input", type=Path)
    parser.add_argument("--column", default="text")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    os.environ.pop("SCALESERVE_CPU_THREADS", None)  # torch on every core, as by default
    model = load_model(APP)
    texts = pq.read_table(args.input, columns=[args.column]).column(0).to_pylist()
    started = time.perf_counter()
    for at in range(0, len(texts), args.batch_size):
        model.predict(texts[at : at + args.batch_size])
    took = time.perf_counter() - started
    print(json.dumps({"rows": len(texts), "seconds": took, "items_per_s": len(texts) / took}))


if __name__ == "__main__":
    main()
