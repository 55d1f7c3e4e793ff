"""The embedded vector store: each tenant's collections in folders under the data dir.

``<root>/<tenant key>/<collection>/`` holds a collection's point log and index snapshot
(``collection.py``). The tenant key is a hash of the tenant's name, so no tenant name can
reach outside the root. Collections open on first use and stay open, one call at a time
per collection. Writes and opening run in worker threads, so the event loop never waits
on a commit or a rebuild; reads run inline, as a query takes a fraction of a millisecond
and the hop to a thread and back cost more than the search (measured: 0.3 ms of 0.7).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from scaleserve.errors import Conflict, TooManyItems, UnknownCollection
from scaleserve.vectors.backends.collection import Collection
from scaleserve.vectors.records import (
    EXACT_LIMIT,
    MAX_K,
    MAX_POINTS_PER_CALL,
    NAME_RULE,
    CollectionInfo,
    CollectionSpec,
    Hit,
    Point,
)
from scaleserve.vectors.store import Query

T = TypeVar("T")


class EmbeddedVectorStore:
    def __init__(self, root: str | Path, *, exact_limit: int = EXACT_LIMIT) -> None:
        self._root = Path(root)
        self._exact_limit = exact_limit
        self._open: dict[Path, Collection] = {}
        self._locks: dict[Path, asyncio.Lock] = {}
        self._catalog = asyncio.Lock()

    async def open(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        async with self._catalog:
            for folder, collection in list(self._open.items()):
                async with self._lock(folder):
                    await asyncio.to_thread(collection.close)
            self._open.clear()

    async def create(self, tenant: str, spec: CollectionSpec) -> None:
        folder = self._folder(tenant, spec.name)
        async with self._catalog:
            if folder.exists():
                raise Conflict(f"a collection named {spec.name!r} exists already")
            self._open[folder] = await asyncio.to_thread(
                Collection.create, folder, spec, self._exact_limit
            )

    async def drop(self, tenant: str, name: str) -> None:
        folder = self._folder(tenant, name)
        async with self._catalog:
            collection = await self._collection(folder, name)
            async with self._lock(folder):
                await asyncio.to_thread(collection.close)
                self._open.pop(folder, None)
                await asyncio.to_thread(shutil.rmtree, folder)

    async def collections(self, tenant: str) -> list[CollectionInfo]:
        tenant_folder = self._root / _tenant_key(tenant)
        names = sorted(p.name for p in tenant_folder.iterdir()) if tenant_folder.exists() else []
        return [await self.info(tenant, name) for name in names]

    async def info(self, tenant: str, name: str) -> CollectionInfo:
        return await self._read(tenant, name, lambda c: c.info())

    async def upsert(self, tenant: str, name: str, points: Sequence[Point]) -> None:
        _bounded(len(points), "points")
        await self._run(tenant, name, lambda c: c.upsert(points))

    async def delete(self, tenant: str, name: str, ids: Sequence[str]) -> int:
        _bounded(len(ids), "ids")
        return await self._run(tenant, name, lambda c: c.delete(ids))

    async def get(
        self, tenant: str, name: str, ids: Sequence[str], *, with_vector: bool = True
    ) -> list[Point]:
        _bounded(len(ids), "ids")
        return await self._read(tenant, name, lambda c: c.get(ids, with_vector))

    async def query(self, tenant: str, name: str, query: Query) -> list[Hit]:
        k = min(query.k, MAX_K)
        return await self._read(
            tenant,
            name,
            lambda c: c.query(
                query.vector, k, query.filter, payload=query.with_payload,
                vector_out=query.with_vector,
            ),
        )  # fmt: skip

    async def count(self, tenant: str, name: str, filter: Any = None) -> int:
        return await self._read(tenant, name, lambda c: c.count(filter))

    async def _run(self, tenant: str, name: str, work: Callable[[Collection], T]) -> T:
        folder = self._folder(tenant, name)
        collection = await self._collection(folder, name)
        async with self._lock(folder):
            return await asyncio.to_thread(work, collection)

    async def _read(self, tenant: str, name: str, work: Callable[[Collection], T]) -> T:
        folder = self._folder(tenant, name)
        collection = await self._collection(folder, name)
        async with self._lock(folder):
            return work(collection)

    async def _collection(self, folder: Path, name: str) -> Collection:
        collection = self._open.get(folder)
        if collection is not None:
            return collection
        if not await asyncio.to_thread(folder.exists):
            raise UnknownCollection(name)
        async with self._lock(folder):
            if folder not in self._open:
                self._open[folder] = await asyncio.to_thread(
                    Collection.open, folder, self._exact_limit
                )
        return self._open[folder]

    def _lock(self, folder: Path) -> asyncio.Lock:
        return self._locks.setdefault(folder, asyncio.Lock())

    def _folder(self, tenant: str, name: str) -> Path:
        if not NAME_RULE.match(name):
            raise UnknownCollection(name)
        return self._root / _tenant_key(tenant) / name


def _tenant_key(tenant: str) -> str:
    return hashlib.sha256(tenant.encode()).hexdigest()[:32]


def _bounded(count: int, what: str) -> None:
    if count > MAX_POINTS_PER_CALL:
        raise TooManyItems(what, MAX_POINTS_PER_CALL)
