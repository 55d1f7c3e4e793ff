"""Gateways sharing one Redis share their semantic indexes (``ResultCache`` in process, over
the real Redis, with the computing broker double embedding by bag of words)."""

from __future__ import annotations

import orjson

import scaleserve
from scaleserve.cache import CachePolicy
from scaleserve.cache.readthrough import ModelCache
from scaleserve.cache.result_cache import ResultCache
from scaleserve.model.spec import ModelSpec
from tests.cache.doubles import EMBEDDER, ComputingBroker
from tests.helpers import until


class Asked(scaleserve.Model):
    name = "asked"
    cache = CachePolicy(mode="semantic", embedding_model=EMBEDDER, min_similarity=0.9)

    def predict(self, batch: list[str]) -> list[str]:
        return batch


class Embedder(scaleserve.Model):
    name = EMBEDDER

    def predict(self, batch: list[str]) -> list[list[float]]:
        return [[1.0] for _ in batch]


SPECS = [ModelSpec.from_class(Asked), ModelSpec.from_class(Embedder)]
QUESTION = orjson.dumps("how do i reset my password")
PARAPHRASE = orjson.dumps("my password: how do i reset it")
ANOTHER_PARAPHRASE = orjson.dumps("reset my password, how do i")


def gateway(redis_url: str, prefix: str) -> ResultCache:
    return ResultCache(SPECS, ComputingBroker(), redis_url=redis_url, redis_prefix=prefix)


def asked(cache: ResultCache) -> ModelCache:
    found = cache.for_model("asked")
    assert found is not None and found.semantic is not None
    return found


async def test_a_text_one_gateway_computed_answers_a_paraphrase_at_another(
    redis_url: str, redis_prefix: str
) -> None:
    async with gateway(redis_url, redis_prefix) as a, gateway(redis_url, redis_prefix) as b:
        first = await asked(a).answer([QUESTION], 5)
        assert first.x_cache == b"miss"
        index_b = asked(b).semantic.index  # type: ignore[union-attr]
        await until(lambda: len(index_b) == 1)
        paraphrase = await asked(b).answer([PARAPHRASE], 5)
        assert paraphrase.x_cache == b"hit-semantic"
        assert paraphrase.outputs == first.outputs  # the output came from Redis

        # a gateway started later takes in the recent texts at start
        async with gateway(redis_url, redis_prefix) as c:
            assert len(asked(c).semantic.index) == 1  # type: ignore[union-attr]
            another = await asked(c).answer([ANOTHER_PARAPHRASE], 5)
            assert another.x_cache == b"hit-semantic"
            assert another.outputs == first.outputs


async def test_purge_drops_the_shared_texts_too(redis_url: str, redis_prefix: str) -> None:
    async with gateway(redis_url, redis_prefix) as a:
        await asked(a).answer([QUESTION], 5)
        assert await a.purge("asked") == 1
        assert len(asked(a).semantic.index) == 0  # type: ignore[union-attr]
        async with gateway(redis_url, redis_prefix) as b:
            assert len(asked(b).semantic.index) == 0  # type: ignore[union-attr]
            assert (await asked(b).answer([PARAPHRASE], 5)).x_cache == b"miss"
