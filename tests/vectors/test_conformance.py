"""One suite for every vector store: collections, points, exact and graph search, filters,
bad input and tenant isolation."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import numpy as np
import pytest

from scaleserve.errors import Conflict, InvalidInput, TooManyItems, UnknownCollection
from scaleserve.vectors import exact
from scaleserve.vectors.records import MAX_POINTS_PER_CALL, CollectionSpec, Metric, Point
from scaleserve.vectors.store import Query, VectorStore

DIM = 16
RNG = np.random.default_rng(7)
COLOURS = ("red", "green", "blue", "black")


def _points(count: int, dim: int = DIM, seed: int = 7) -> list[Point]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    return [
        Point(
            f"p{i}",
            vectors[i].tolist(),
            {"colour": COLOURS[i % 4], "year": 1990 + i % 40, "new": i % 3 == 0, "tags": ["x"]},
        )
        for i in range(count)
    ]


async def _filled(store: VectorStore, tenant: str, points: list[Point], **spec: Any) -> str:
    name = f"c-{uuid.uuid4().hex[:6]}"
    await store.create(tenant, CollectionSpec(name, len(points[0].vector), **spec))
    for start in range(0, len(points), MAX_POINTS_PER_CALL):
        await store.upsert(tenant, name, points[start : start + MAX_POINTS_PER_CALL])
    return name


def _truth(points: list[Point], query: list[float], metric: Metric, k: int) -> list[str]:
    rows = exact.prepared(np.asarray([p.vector for p in points], dtype=np.float32), metric)
    q = exact.prepared(np.asarray([query], dtype=np.float32), metric)[0]
    return [points[i].id for i in exact.top_k(exact.scores(rows, q, metric), k)]


async def test_collections_are_created_listed_described_and_dropped(
    store: VectorStore, tenant: str
) -> None:
    await store.create(tenant, CollectionSpec("docs", 8, Metric.DOT, model="embedder"))
    with pytest.raises(Conflict):
        await store.create(tenant, CollectionSpec("docs", 8))
    info = await store.info(tenant, "docs")
    assert (info.spec.dimension, info.spec.metric, info.spec.model, info.count) == (
        8, Metric.DOT, "embedder", 0,
    )  # fmt: skip
    assert [c.spec.name for c in await store.collections(tenant)] == ["docs"]
    await store.drop(tenant, "docs")
    assert await store.collections(tenant) == []
    with pytest.raises(UnknownCollection):
        await store.info(tenant, "docs")
    with pytest.raises(UnknownCollection):
        await store.upsert(tenant, "docs", [Point("a", [0.0] * 8)])


async def test_points_round_trip_replace_and_delete(store: VectorStore, tenant: str) -> None:
    points = _points(20)
    name = await _filled(store, tenant, points, metric=Metric.DOT)
    assert await store.count(tenant, name) == 20
    [got] = await store.get(tenant, name, ["p3"])
    assert got.payload == points[3].payload
    assert np.allclose(got.vector, points[3].vector)
    await store.upsert(tenant, name, [Point("p3", [1.0] * DIM, {"colour": "white"})])
    [got] = await store.get(tenant, name, ["p3"], with_vector=False)
    assert got.payload == {"colour": "white"} and got.vector == []
    assert await store.count(tenant, name) == 20
    assert await store.delete(tenant, name, ["p3", "p4", "missing"]) == 2
    assert await store.count(tenant, name) == 18
    assert [p.id for p in await store.get(tenant, name, ["p5", "p3", "p6"])] == ["p5", "p6"]
    hits = await store.query(tenant, name, Query([1.0] * DIM, k=20))
    assert "p3" not in {h.id for h in hits} and len(hits) == 18


@pytest.mark.parametrize("metric", list(Metric))
async def test_exact_plan_returns_the_true_nearest_in_order(
    store: VectorStore, tenant: str, metric: Metric
) -> None:
    points = _points(40)
    name = await _filled(store, tenant, points, metric=metric)
    query = RNG.normal(size=DIM).tolist()
    hits = await store.query(tenant, name, Query(query, k=5, with_vector=True))
    assert [h.id for h in hits] == _truth(points, query, metric, 5)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert hits[0].payload == points[int(hits[0].id[1:])].payload
    assert hits[0].vector is not None and len(hits[0].vector) == DIM


@pytest.mark.parametrize("metric", list(Metric))
async def test_graph_plan_keeps_recall_with_and_without_filters(
    store: VectorStore, tenant: str, metric: Metric
) -> None:
    points = _points(2000, dim=32)
    name = await _filled(store, tenant, points, metric=metric)
    recalls = []
    for seed in range(10):
        query = np.random.default_rng(seed).normal(size=32).tolist()
        for raw, keep in [(None, None), ({"colour": {"in": ["red", "blue"]}}, ("red", "blue"))]:
            hits = await store.query(tenant, name, Query(query, k=10, filter=raw))
            pool = [p for p in points if keep is None or p.payload["colour"] in keep]
            truth = _truth(pool, query, metric, 10)
            assert len(hits) == 10
            assert all(keep is None or (h.payload and h.payload["colour"] in keep) for h in hits)
            recalls.append(len({h.id for h in hits} & set(truth)) / 10)
    assert np.mean(recalls) >= 0.9


FILTERS: list[tuple[Any, Any]] = [
    ({"colour": "red"}, lambda p: p["colour"] == "red"),
    ({"colour": {"in": ["red", "blue"]}}, lambda p: p["colour"] in ("red", "blue")),
    ({"year": {"gte": 2000, "lt": 2010}}, lambda p: 2000 <= p["year"] < 2010),
    ({"year": {"eq": 1995}}, lambda p: p["year"] == 1995),
    ({"new": True}, lambda p: p["new"] is True),
    (
        {"or": [{"colour": "green"}, {"and": [{"new": True}, {"year": {"gt": 2020}}]}]},
        lambda p: p["colour"] == "green" or (p["new"] and p["year"] > 2020),
    ),
    ({"not": {"year": {"lte": 2000}}}, lambda p: not p["year"] <= 2000),
    ({"colour": "red", "new": False}, lambda p: p["colour"] == "red" and not p["new"]),
    ({"colour": "purple"}, lambda p: False),
]


@pytest.mark.parametrize(("raw", "passes"), FILTERS)
async def test_filters_select_exactly_the_matching_points(
    store: VectorStore, tenant: str, raw: Any, passes: Any
) -> None:
    points = _points(120)
    name = await _filled(store, tenant, points)
    expected = {p.id for p in points if passes(p.payload)}
    assert await store.count(tenant, name, raw) == len(expected)
    hits = await store.query(tenant, name, Query([1.0] * DIM, k=1000, filter=raw))
    assert {h.id for h in hits} == expected


async def test_a_point_without_the_field_passes_its_negation(
    store: VectorStore, tenant: str
) -> None:
    name = await _filled(store, tenant, _points(10))
    await store.upsert(tenant, name, [Point("bare", [0.5] * DIM, {})])
    assert await store.count(tenant, name, {"not": {"year": {"gte": 0}}}) == 1
    assert await store.count(tenant, name, {"year": {"gte": 0}}) == 10


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"shape": "round"}, ["body", "filter", "shape"]),
        ({"colour": 3}, ["body", "filter", "colour"]),
        ({"colour": {"gte": "a"}}, ["body", "filter", "colour", "gte"]),
        ({"year": {"near": 3}}, ["body", "filter", "year", "near"]),
        ({"and": [{"colour": "red"}, {"year": "old"}]}, ["body", "filter", "and", 1, "year"]),
        ({"or": []}, ["body", "filter", "or"]),
        ({"not": 5}, ["body", "filter", "not"]),
        ({"year": {"in": [1, "x"]}}, ["body", "filter", "year", "in", 1]),
        ({"tags": "x"}, ["body", "filter", "tags"]),
    ],
)
async def test_a_bad_filter_is_refused_naming_its_path(
    store: VectorStore, tenant: str, raw: Any, path: list[Any]
) -> None:
    name = await _filled(store, tenant, _points(5))
    with pytest.raises(InvalidInput) as caught:
        await store.query(tenant, name, Query([0.0] * DIM, filter=raw))
    assert caught.value.errors[0]["loc"] == path
    with pytest.raises(InvalidInput):
        await store.count(tenant, name, raw)


async def test_wrong_dimensions_and_field_types_change_nothing(
    store: VectorStore, tenant: str
) -> None:
    name = await _filled(store, tenant, _points(5))
    with pytest.raises(InvalidInput) as caught:
        await store.upsert(tenant, name, [Point("ok", [0.0] * DIM), Point("bad", [0.0] * 3)])
    assert caught.value.errors[0]["loc"] == ["body", "points", 1, "vector"]
    with pytest.raises(InvalidInput) as caught:
        await store.upsert(tenant, name, [Point("ok", [0.0] * DIM, {"year": "1999"})])
    assert caught.value.errors[0]["loc"] == ["body", "points", 0, "payload", "year"]
    with pytest.raises(InvalidInput):
        await store.query(tenant, name, Query([0.0] * (DIM + 1)))
    assert await store.count(tenant, name) == 5
    assert await store.get(tenant, name, ["ok"]) == []
    assert (await store.info(tenant, name)).fields == {
        "colour": "keyword", "year": "number", "new": "bool",
    }  # fmt: skip


async def test_too_many_points_in_one_call_are_refused(store: VectorStore, tenant: str) -> None:
    name = await _filled(store, tenant, _points(1))
    many = [Point(f"x{i}", [0.0] * DIM) for i in range(MAX_POINTS_PER_CALL + 1)]
    with pytest.raises(TooManyItems):
        await store.upsert(tenant, name, many)
    with pytest.raises(TooManyItems):
        await store.get(tenant, name, [p.id for p in many])


async def test_a_tenant_never_reaches_another_tenants_collection(
    store: VectorStore, tenant: str
) -> None:
    other = tenant + "-other"
    name = await _filled(store, tenant, _points(10))
    for attempt in (
        store.info(other, name),
        store.query(other, name, Query([0.0] * DIM)),
        store.get(other, name, ["p1"]),
        store.delete(other, name, ["p1"]),
        store.upsert(other, name, [Point("p1", [0.0] * DIM)]),
        store.drop(other, name),
    ):
        with pytest.raises(UnknownCollection):
            await attempt
    assert await store.collections(other) == []
    await store.create(other, CollectionSpec(name, 4))  # the same name, another collection
    assert (await store.info(tenant, name)).count == 10
    assert (await store.info(other, name)).spec.dimension == 4
