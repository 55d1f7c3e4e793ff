"""``/v1/collections``: the calling tenant's vector collections, their points and queries.

A point or a query gives a vector, or a text that the collection's embedding model turns
into one. Errors are the native problem shape: an unknown collection 404, a wrong
dimension or a bad filter 422 naming its path, too many points in one call 413.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from scaleserve.api import problems
from scaleserve.api import vector_schemas as schemas
from scaleserve.api.caller import Caller, caller_of
from scaleserve.api.protocol_route import protocol_route
from scaleserve.api.text_embedder import TextEmbedder
from scaleserve.errors import InvalidInput, TooManyItems
from scaleserve.vectors.records import (
    MAX_POINTS_PER_CALL,
    CollectionInfo,
    CollectionSpec,
    Hit,
    Point,
)
from scaleserve.vectors.store import Query, VectorStore


class VectorApi:
    def __init__(self, store: VectorStore, embedder: TextEmbedder) -> None:
        self._store = store
        self._embedder = embedder

    async def create(self, body: schemas.CreateCollection, request: Request) -> Response:
        """A new empty collection; with a ``model`` and no ``dimension``, the model's."""
        caller = caller_of(request.scope)
        dimension = body.dimension
        if dimension is None and body.model is not None:
            probe = await self._embedder.embed(caller, body.model, ["dimension"], _at("model"))
            dimension = len(probe[0])
        spec = CollectionSpec(body.name, dimension or 0, body.metric, body.model)
        await self._store.create(caller.tenant.name, spec)
        info = await self._store.info(caller.tenant.name, body.name)
        return _json(_collection(info).model_dump(), 201)

    async def collections(self, request: Request) -> schemas.Collections:
        """The caller's collections."""
        found = await self._store.collections(caller_of(request.scope).tenant.name)
        return schemas.Collections(collections=[_collection(info) for info in found])

    async def describe(self, name: str, request: Request) -> schemas.Collection:
        """A collection's spec, its point count and its payload fields' types."""
        return _collection(await self._store.info(caller_of(request.scope).tenant.name, name))

    async def drop(self, name: str, request: Request) -> Response:
        """The collection and all its points, gone."""
        await self._store.drop(caller_of(request.scope).tenant.name, name)
        return Response(status_code=204)

    async def upsert(self, name: str, body: schemas.Upsert, request: Request) -> schemas.Upserted:
        """Insert or replace points, all or none; durable once answered."""
        if len(body.points) > MAX_POINTS_PER_CALL:
            raise TooManyItems("points", MAX_POINTS_PER_CALL)
        caller = caller_of(request.scope)
        texts = [(i, p.text) for i, p in enumerate(body.points) if p.text is not None]
        vectors: dict[int, list[float]] = {}
        if texts:
            model = await self._model(caller.tenant.name, name, ["body", "points", texts[0][0]])
            made = await self._embedder.embed(
                caller, model, [t for _, t in texts], lambda i: _point_at(texts, i)
            )
            vectors = {index: vector for (index, _), vector in zip(texts, made, strict=True)}
        points = [
            Point(
                p.id,
                p.vector if p.vector is not None else vectors[i],
                p.payload if p.text is None else {"text": p.text, **p.payload},
            )
            for i, p in enumerate(body.points)
        ]
        await self._store.upsert(caller.tenant.name, name, points)
        return schemas.Upserted(upserted=len(points))

    async def get(self, name: str, body: schemas.Ids, request: Request) -> schemas.Points:
        """The points of ``ids`` that exist, in the order asked."""
        found = await self._store.get(
            caller_of(request.scope).tenant.name, name, body.ids, with_vector=body.with_vector
        )
        return schemas.Points(
            points=[
                schemas.PointOut(
                    id=p.id, payload=p.payload, vector=p.vector if body.with_vector else None
                )
                for p in found
            ]
        )

    async def delete(self, name: str, body: schemas.Ids, request: Request) -> schemas.Deleted:
        """Delete the points of ``ids``; answers how many existed."""
        count = await self._store.delete(caller_of(request.scope).tenant.name, name, body.ids)
        return schemas.Deleted(deleted=count)

    async def query(self, name: str, body: schemas.QueryBody, request: Request) -> schemas.Hits:
        """The ``k`` nearest points passing ``filter``, nearest first."""
        hits = await self.search(caller_of(request.scope), name, body)
        return schemas.Hits(
            hits=[
                schemas.HitOut(id=h.id, score=h.score, payload=h.payload, vector=h.vector)
                for h in hits
            ]
        )

    async def search(self, caller: Caller, name: str, body: schemas.QueryBody) -> list[Hit]:
        """What ``query`` answers (its fast route shares it)."""
        vector = body.vector
        if vector is None:
            model = await self._model(caller.tenant.name, name, ["body", "text"])
            [vector] = await self._embedder.embed(
                caller, model, [body.text or ""], lambda _: ["body", "text"]
            )
        query = Query(vector, body.k, body.filter, body.with_payload, body.with_vector)
        return await self._store.query(caller.tenant.name, name, query)

    async def count(self, name: str, body: schemas.CountBody, request: Request) -> schemas.Count:
        """How many points pass ``filter`` (all without one)."""
        tenant = caller_of(request.scope).tenant.name
        return schemas.Count(count=await self._store.count(tenant, name, body.filter))

    async def _model(self, tenant: str, name: str, loc: list[Any]) -> str:
        info = await self._store.info(tenant, name)
        if info.spec.model is None:
            raise InvalidInput(
                f"collection {name!r} has no embedding model: give vectors, not texts",
                [{"loc": loc, "msg": "no model to embed texts", "type": "value"}],
            )
        return info.spec.model


def build_router(api: VectorApi, max_body_bytes: int) -> APIRouter:
    router = APIRouter(
        prefix="/v1/collections",
        tags=["vectors"],
        route_class=protocol_route(problems.problem_response, max_body_bytes),
        responses={code: {"description": "problem+json"} for code in (404, 413, 422)},
    )
    router.add_api_route("", api.create, methods=["POST"], status_code=201,
                         responses={201: {"model": schemas.Collection}})  # fmt: skip
    router.add_api_route("", api.collections, methods=["GET"])
    router.add_api_route("/{name}", api.describe, methods=["GET"])
    router.add_api_route("/{name}", api.drop, methods=["DELETE"], status_code=204)
    router.add_api_route("/{name}/points", api.upsert, methods=["PUT"])
    router.add_api_route("/{name}/points/get", api.get, methods=["POST"])
    router.add_api_route("/{name}/points/delete", api.delete, methods=["POST"])
    router.add_api_route("/{name}/query", api.query, methods=["POST"])
    router.add_api_route("/{name}/count", api.count, methods=["POST"])
    return router


def _collection(info: CollectionInfo) -> schemas.Collection:
    spec = info.spec
    return schemas.Collection(
        name=spec.name, dimension=spec.dimension, metric=spec.metric, model=spec.model,
        count=info.count, fields=dict(info.fields),
    )  # fmt: skip


def _at(field: str) -> Any:
    return lambda _: ["body", field]


def _point_at(texts: Sequence[tuple[int, str | None]], index: int) -> list[Any]:
    return ["body", "points", texts[index][0], "text"]


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
