"""The seam of the vectors part: a ``VectorStore`` keeps each tenant's collections.

Every method takes the tenant first: a tenant never sees, reads or changes another
tenant's collections, whatever their names (an unknown one and another tenant's look the
same: ``UnknownCollection``). Upserts replace whole points and are durable when the call
returns. Filters arrive as JSON and are parsed by the store against the collection's
payload field types (``filters.parse``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from scaleserve.vectors.records import CollectionInfo, CollectionSpec, Hit, Point


@dataclass(frozen=True, slots=True)
class Query:
    vector: list[float]
    k: int = 10
    filter: Any = None
    """The filter's JSON (``filters.py``); ``None``: every point."""
    with_payload: bool = True
    with_vector: bool = False


class VectorStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create(self, tenant: str, spec: CollectionSpec) -> None:
        """A new empty collection; ``Conflict`` if the tenant has one of that name."""

    async def drop(self, tenant: str, name: str) -> None:
        """The collection and all its points, gone."""

    async def collections(self, tenant: str) -> list[CollectionInfo]: ...

    async def info(self, tenant: str, name: str) -> CollectionInfo: ...

    async def upsert(self, tenant: str, name: str, points: Sequence[Point]) -> None:
        """Insert or replace ``points``, all or none; durable once returned."""

    async def delete(self, tenant: str, name: str, ids: Sequence[str]) -> int:
        """How many of ``ids`` existed (and are gone)."""

    async def get(
        self, tenant: str, name: str, ids: Sequence[str], *, with_vector: bool = True
    ) -> list[Point]:
        """The points of ``ids`` that exist, in the order asked."""

    async def query(self, tenant: str, name: str, query: Query) -> list[Hit]:
        """The ``k`` nearest points that pass the filter, nearest first."""

    async def count(self, tenant: str, name: str, filter: Any = None) -> int: ...
