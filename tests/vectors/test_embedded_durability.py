"""The embedded store keeps what it acknowledged: across a close and an open, across index
snapshots with changes after them, and across a kill -9 in the middle of upserts."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scaleserve.vectors.backends import collection as collection_module
from scaleserve.vectors.backends.embedded import EmbeddedVectorStore
from scaleserve.vectors.records import MAX_K, CollectionSpec, Point
from scaleserve.vectors.store import Query

DIM = 8

WRITER = """
import asyncio, sys
import numpy as np
from scaleserve.vectors.backends.embedded import EmbeddedVectorStore
from scaleserve.vectors.records import MAX_K, CollectionSpec, Point

async def main(root):
    store = EmbeddedVectorStore(root)
    await store.open()
    await store.create("acme", CollectionSpec("docs", 8))
    rng = np.random.default_rng(1)
    batch = 0
    while True:
        points = [Point(f"b{batch}-{i}", rng.normal(size=8).tolist(), {"batch": batch})
                  for i in range(50)]
        await store.upsert("acme", "docs", points)
        print(batch, flush=True)   # acknowledged
        batch += 1

asyncio.run(main(sys.argv[1]))
"""


def _point(i: int) -> Point:
    return Point(f"p{i}", np.random.default_rng(i).normal(size=DIM).tolist(), {"n": i})


async def test_a_reopened_store_has_every_point_and_answers_alike(tmp_path: Path) -> None:
    store = EmbeddedVectorStore(tmp_path)
    await store.open()
    await store.create("acme", CollectionSpec("docs", DIM))
    await store.upsert("acme", "docs", [_point(i) for i in range(300)])
    await store.delete("acme", "docs", ["p1", "p2"])
    query = Query([0.5] * DIM, k=5, filter={"n": {"gte": 100}})
    before = await store.query("acme", "docs", query)
    await store.close()

    reopened = EmbeddedVectorStore(tmp_path)
    await reopened.open()
    assert (await reopened.info("acme", "docs")).count == 298
    assert await reopened.get("acme", "docs", ["p1"]) == []
    assert await reopened.query("acme", "docs", query) == before
    await reopened.close()


async def test_changes_after_a_snapshot_are_replayed_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collection_module, "SNAPSHOT_EVERY", 100)
    store = EmbeddedVectorStore(tmp_path, exact_limit=0)  # every query through the graph
    await store.open()
    await store.create("acme", CollectionSpec("docs", DIM))
    await store.upsert("acme", "docs", [_point(i) for i in range(150)])  # a snapshot
    assert (tmp_path / "acme").exists() is False  # folders are keyed, never named by tenants
    await store.upsert("acme", "docs", [Point("p3", [1.0] * DIM, {"n": -1})])  # after it
    await store.delete("acme", "docs", ["p4"])
    # Stop without a final snapshot, as a crash would: only the log has the last changes.
    [folder] = await asyncio.to_thread(lambda: list(tmp_path.glob("*/docs")))
    for opened in store._open.values():
        opened._log.close()
    reopened = EmbeddedVectorStore(tmp_path, exact_limit=0)
    await reopened.open()
    [hit] = await reopened.query("acme", "docs", Query([1.0] * DIM, k=1))
    assert (hit.id, hit.payload) == ("p3", {"n": -1})
    assert await reopened.get("acme", "docs", ["p4"]) == []
    hits = await reopened.query("acme", "docs", Query([0.0] * DIM, k=200))
    assert len(hits) == 149 and "p4" not in {h.id for h in hits}
    assert (folder / collection_module.INDEX_FILE).exists()
    await reopened.close()


def _write_until_killed(root: Path, stop_after: int) -> int:
    """Run the writer until it has acknowledged batch ``stop_after``, then kill -9 it;
    the last batch it acknowledged."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    acknowledged = -1
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, env=env
    ) as writer:
        assert writer.stdout is not None
        for line in writer.stdout:
            acknowledged = int(line)
            if acknowledged >= stop_after:
                break
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    return acknowledged


@pytest.mark.parametrize("seed", [1, 2])
async def test_kill_9_during_upserts_loses_no_acknowledged_point(tmp_path: Path, seed: int) -> None:
    stop_after = random.Random(seed).randint(3, 30)
    acknowledged = await asyncio.to_thread(_write_until_killed, tmp_path, stop_after)
    assert acknowledged >= stop_after, "the writer stopped before it was killed"

    store = EmbeddedVectorStore(tmp_path)
    await store.open()
    count = (await store.info("acme", "docs")).count
    assert count >= (acknowledged + 1) * 50  # every acknowledged batch, maybe one more
    for batch in range(acknowledged + 1):
        ids = [f"b{batch}-{i}" for i in range(50)]
        assert len(await store.get("acme", "docs", ids)) == 50
        assert await store.count("acme", "docs", {"batch": batch}) == 50
    hits = await store.query("acme", "docs", Query([0.1] * DIM, k=MAX_K))
    assert len(hits) == min(count, MAX_K)
    await store.close()
