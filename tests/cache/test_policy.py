from __future__ import annotations

from typing import Any

import pytest

import scaleserve
from scaleserve.cache import CachePolicy
from scaleserve.cache.result_cache import ResultCache
from scaleserve.errors import ConfigError
from scaleserve.model.spec import ModelSpec
from tests.cache.doubles import ComputingBroker


def model_with(cache: Any, name: str = "m") -> type[scaleserve.Model]:
    class Cached(scaleserve.Model):
        def predict(self, batch: list[str]) -> list[str]:
            return batch

    Cached.name = name
    Cached.cache = cache
    return Cached


def test_the_default_is_off() -> None:
    assert ModelSpec.from_class(model_with("off")).cache == CachePolicy()
    assert not CachePolicy().enabled


def test_a_mode_string_takes_every_default() -> None:
    spec = ModelSpec.from_class(model_with("exact"))
    assert spec.cache == CachePolicy(mode="exact")


def test_a_policy_keeps_its_settings() -> None:
    policy = CachePolicy(mode="exact", ttl_s=5, max_entries=7, stale_s=60, scope="public")
    assert ModelSpec.from_class(model_with(policy)).cache == policy


@pytest.mark.parametrize(
    ("cache", "field"),
    [
        ("sometimes", "cache.mode"),
        (CachePolicy(mode="exact", ttl_s=0), "cache.ttl_s"),
        (CachePolicy(mode="exact", max_entries=0), "cache.max_entries"),
        (CachePolicy(mode="exact", stale_s=-1), "cache.stale_s"),
        (CachePolicy(mode="semantic", min_similarity=1.5), "cache.min_similarity"),
        (CachePolicy(mode="semantic", embedding_model="Not A Name"), "cache.embedding_model"),
        (CachePolicy(mode="exact", scope="everyone"), "cache.scope"),  # type: ignore[arg-type]
        (3, "cache"),
    ],
)
def test_bad_policies_are_config_errors_naming_the_field(cache: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ModelSpec.from_class(model_with(cache))


def test_a_semantic_policy_needs_its_embedding_model_served() -> None:
    spec = ModelSpec.from_class(model_with(CachePolicy(mode="semantic", embedding_model="emb")))
    with pytest.raises(ConfigError, match="'emb'"):
        ResultCache([spec], ComputingBroker())
    embedder = ModelSpec.from_class(model_with("off", name="emb"))
    assert ResultCache([spec, embedder], ComputingBroker()).for_model("m") is not None


def test_a_model_cannot_embed_its_own_texts() -> None:
    spec = ModelSpec.from_class(model_with(CachePolicy(mode="semantic", embedding_model="m")))
    with pytest.raises(ConfigError, match="its own"):
        ResultCache([spec], ComputingBroker())


def test_models_with_the_cache_off_get_no_model_cache() -> None:
    cache = ResultCache([ModelSpec.from_class(model_with("off"))], ComputingBroker())
    assert cache.for_model("m") is None
