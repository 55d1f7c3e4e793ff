from __future__ import annotations

import numpy as np
from prometheus_client import REGISTRY

from scaleserve.cache.guard import signature
from scaleserve.cache.semantic import Neighbour, Outcome, SemanticIndex


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def neighbour(key: str, text: str = "a question", partition: str = "p") -> Neighbour:
    return Neighbour(key, partition, signature(text))


def test_the_nearest_neighbour_above_the_threshold_hits() -> None:
    index = SemanticIndex("idx-hit", max_entries=10, min_similarity=0.9)
    index.add(unit(1, 0, 0), neighbour("a"))
    index.add(unit(0, 1, 0), neighbour("b"))
    found = index.search(unit(1, 0.1, 0), "p", signature("a question"))
    assert found.outcome is Outcome.HIT and found.neighbour is not None
    assert found.neighbour.key == "a" and found.similarity > 0.99
    assert index.search(unit(1, 1, 0), "p", signature("a question")).outcome is Outcome.MISS


def test_only_the_same_partition_is_searched() -> None:
    index = SemanticIndex("idx-partition", max_entries=10, min_similarity=0.9)
    index.add(unit(1, 0, 0), neighbour("a", partition="tenant-a"))
    assert index.search(unit(1, 0, 0), "tenant-b", signature("a question")).outcome is Outcome.MISS


def test_the_guard_rejects_and_a_guarded_neighbour_further_away_still_hits() -> None:
    index = SemanticIndex("idx-guard", max_entries=10, min_similarity=0.9)
    index.add(unit(1, 0, 0), neighbour("negated", "Is it not safe?"))
    found = index.search(unit(1, 0, 0), "p", signature("Is it safe?"))
    assert found.outcome is Outcome.REJECTED
    index.add(unit(1, 0.2, 0), neighbour("same", "Is it safe?"))
    found = index.search(unit(1, 0, 0), "p", signature("Is it safe?"))
    assert found.neighbour is not None and found.neighbour.key == "same"


def test_the_oldest_entries_go_beyond_the_bound() -> None:
    index = SemanticIndex("idx-bound", max_entries=2, min_similarity=0.9)
    for i, key in enumerate("abc"):
        index.add(unit(1, i, 0), neighbour(key))
    assert len(index) == 2
    assert index.search(unit(1, 0, 0), "p", signature("a question")).outcome is Outcome.MISS
    assert (
        REGISTRY.get_sample_value(
            "scaleserve_cache_evictions_total", {"model": "idx-bound", "tier": "semantic"}
        )
        == 1
    )
    assert (
        REGISTRY.get_sample_value(
            "scaleserve_cache_entries", {"model": "idx-bound", "tier": "semantic"}
        )
        == 2
    )


def test_discard_and_clear() -> None:
    index = SemanticIndex("idx-discard", max_entries=10, min_similarity=0.9)
    index.add(unit(1, 0, 0), neighbour("a"))
    index.add(unit(1, 0, 0), neighbour("a"))  # re-adding a key replaces it
    assert len(index) == 1
    index.discard("a")
    assert index.search(unit(1, 0, 0), "p", signature("a question")).outcome is Outcome.MISS
    index.add(unit(0, 1, 0), neighbour("b"))
    assert index.clear() == 1 and len(index) == 0
