"""``ModelCache`` in process, in front of a computing broker double (memory tier)."""

from __future__ import annotations

import orjson
import pytest

from scaleserve.cache import CachePolicy
from scaleserve.cache.backends.memory import Bound, MemoryBackend
from scaleserve.cache.outcome import CacheControl
from scaleserve.cache.readthrough import ModelCache
from scaleserve.cache.semantic import SemanticIndex
from scaleserve.cache.semantic_lookup import Embedder, SemanticLookup
from scaleserve.cache.tiers import TieredStore
from scaleserve.errors import (
    NoHealthyWorker,
    Overloaded,
    QueueUnavailable,
    ServingError,
    WorkerLost,
)
from tests.cache.doubles import EMBEDDER, ComputingBroker


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def build(broker: ComputingBroker, policy: CachePolicy, clock: Clock | None = None) -> ModelCache:
    clock = clock or Clock()
    store = TieredStore([MemoryBackend({"m": Bound(1000, 1 << 20)}, clock)], clock)
    semantic = None
    if policy.mode == "semantic":
        semantic = SemanticLookup(
            "m",
            policy.text_field,
            index=SemanticIndex("m", policy.max_entries, policy.min_similarity),
            embedder=Embedder(broker, EMBEDDER),
            store=store,
            clock=clock,
        )
    return ModelCache("m", "1", policy, store=store, broker=broker, semantic=semantic, clock=clock)


def payloads(*items: object) -> list[bytes]:
    return [orjson.dumps(item) for item in items]


def ns_of(outputs: list[bytes]) -> list[int]:
    return [orjson.loads(o)["n"] for o in outputs]


EXACT = CachePolicy(mode="exact", ttl_s=10)


async def test_hits_never_reach_the_broker_and_order_is_kept() -> None:
    broker = ComputingBroker()
    cache = build(broker, EXACT)
    first = await cache.answer(payloads("a", "b"), 5)
    mixed = await cache.answer(payloads("c", "b", "a", "d"), 5)
    assert first.x_cache == b"miss"
    assert mixed.x_cache == b"hit-memory=2, miss=2"
    assert [orjson.loads(o)["item"] for o in mixed.outputs] == ["c", "b", "a", "d"]
    assert ns_of(mixed.outputs)[1:3] == ns_of(first.outputs)[::-1]
    assert broker.computed("m") == ["a", "b", "c", "d"]


async def test_tenants_do_not_see_each_others_entries() -> None:
    broker = ComputingBroker()
    cache = build(broker, EXACT)
    await cache.answer(payloads("x"), 5, tenant="acme")
    assert (await cache.answer(payloads("x"), 5, tenant="acme")).x_cache == b"hit-memory"
    assert (await cache.answer(payloads("x"), 5, tenant="globex")).x_cache == b"miss"
    assert (await cache.answer(payloads("x"), 5)).x_cache == b"miss"  # the default tenant


async def test_a_public_model_shares_one_scope() -> None:
    broker = ComputingBroker()
    cache = build(broker, CachePolicy(mode="exact", scope="public"))
    await cache.answer(payloads("x"), 5, tenant="acme")
    assert (await cache.answer(payloads("x"), 5, tenant="globex")).x_cache == b"hit-memory"


async def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    broker = ComputingBroker()
    cache = build(broker, EXACT, clock)
    await cache.answer(payloads("x"), 5)
    clock.now += 9.9
    assert (await cache.answer(payloads("x"), 5)).x_cache == b"hit-memory"
    clock.now += 0.2
    assert (await cache.answer(payloads("x"), 5)).x_cache == b"miss"


@pytest.mark.parametrize(
    "failure",
    [Overloaded("m", 1), NoHealthyWorker("m"), WorkerLost("m"), QueueUnavailable("gone")],
)
async def test_stale_entries_stand_in_when_the_model_cannot_answer(
    failure: ServingError,
) -> None:
    clock = Clock()
    broker = ComputingBroker()
    cache = build(broker, CachePolicy(mode="exact", ttl_s=10, stale_s=100), clock)
    fresh = await cache.answer(payloads("x", "y"), 5)
    clock.now += 50
    broker.failures["m"] = failure
    stale = await cache.answer(payloads("y", "x"), 5)
    assert stale.x_cache == b"stale"
    assert stale.outputs == fresh.outputs[::-1]
    with pytest.raises(type(failure)):
        await cache.answer(payloads("x", "new"), 5)  # one item has nothing to fall back on
    clock.now += 100
    with pytest.raises(type(failure)):
        await cache.answer(payloads("x"), 5)  # past stale_s: gone


async def test_with_no_ready_worker_stale_entries_answer_without_queueing() -> None:
    clock = Clock()
    broker = ComputingBroker()
    cache = build(broker, CachePolicy(mode="exact", ttl_s=10, stale_s=100), clock)
    await cache.answer(payloads("x"), 5)
    clock.now += 20
    broker.ready = 0
    assert (await cache.answer(payloads("x"), 5)).x_cache == b"stale"
    assert broker.computed("m") == ["x"]


async def test_without_stale_s_an_expired_entry_is_never_served() -> None:
    clock = Clock()
    broker = ComputingBroker()
    cache = build(broker, EXACT, clock)
    await cache.answer(payloads("x"), 5)
    clock.now += 20
    broker.failures["m"] = Overloaded("m", 1)
    with pytest.raises(Overloaded):
        await cache.answer(payloads("x"), 5)


async def test_no_store_and_no_cache() -> None:
    broker = ComputingBroker()
    cache = build(broker, EXACT)
    skip_all = CacheControl(read=False, store=False)
    await cache.answer(payloads("x"), 5, control=skip_all)
    assert (await cache.answer(payloads("x"), 5)).x_cache == b"miss"
    refresh = await cache.answer(payloads("x"), 5, control=CacheControl(read=False))
    assert (await cache.answer(payloads("x"), 5)).outputs == refresh.outputs


SEMANTIC = CachePolicy(mode="semantic", min_similarity=0.9)


async def test_semantic_hits_need_similarity_and_the_guard() -> None:
    broker = ComputingBroker()
    cache = build(broker, SEMANTIC)
    first = await cache.answer(payloads("how do i reset my password"), 5)
    # the same words in another order: the double embeds them identically
    same = await cache.answer(payloads("my password, how do i reset"), 5)
    negated = await cache.answer(payloads("how do i not reset my password"), 5)
    assert same.x_cache == b"hit-semantic" and same.outputs == first.outputs
    assert negated.x_cache == b"miss"


async def test_semantic_lookups_stay_inside_a_scope() -> None:
    broker = ComputingBroker()
    cache = build(broker, SEMANTIC)
    await cache.answer(payloads("reset my password please"), 5, tenant="acme")
    other = await cache.answer(payloads("please reset my password"), 5, tenant="globex")
    assert other.x_cache == b"miss"


async def test_when_the_embedding_model_fails_items_are_plain_misses() -> None:
    broker = ComputingBroker()
    broker.failures[EMBEDDER] = Overloaded(EMBEDDER, 1)
    cache = build(broker, SEMANTIC)
    answer = await cache.answer(payloads("hello there"), 5)
    assert answer.x_cache == b"miss"
    assert orjson.loads(answer.outputs[0])["item"] == "hello there"


async def test_without_a_ready_embedding_worker_the_semantic_step_is_skipped() -> None:
    class NoEmbedder(ComputingBroker):
        def ready_workers(self, model: str) -> int:
            return 0 if model == EMBEDDER else 1

    broker = NoEmbedder()
    cache = build(broker, SEMANTIC)
    assert (await cache.answer(payloads("hello there"), 5)).x_cache == b"miss"
    assert broker.computed(EMBEDDER) == []
    assert broker.computed("m") == ["hello there"]


async def test_non_text_items_skip_the_semantic_step() -> None:
    broker = ComputingBroker()
    cache = build(broker, SEMANTIC)
    await cache.answer(payloads(1, {"a": 1}), 5)
    assert broker.computed(EMBEDDER) == []
    assert (await cache.answer(payloads(1), 5)).x_cache == b"hit-memory"
