"""``DELETE /admin/models/{name}/cache`` (admin listener): purge a model's cached outputs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.responses import Response

from scaleserve.api.problems import problem_response
from scaleserve.api.schemas import Problem
from scaleserve.cache.result_cache import ResultCache
from scaleserve.errors import ScaleserveError


class CachePurge(BaseModel):
    model: str
    purged: int


def build_router(cache: ResultCache) -> APIRouter:
    router = APIRouter()

    @router.delete(
        "/admin/models/{name}/cache",
        tags=["cache"],
        response_model=CachePurge,
        responses={404: {"model": Problem}, 503: {"model": Problem}},
    )
    async def purge_cache(name: str) -> Response:
        """Drop every cached output of the model, of every version and scope, in every tier
        and every gateway sharing the Redis tier. ``purged`` counts the entries dropped."""
        try:
            purged = await cache.purge(name)
        except ScaleserveError as exc:
            return problem_response(exc)
        return JSONResponse(CachePurge(model=name, purged=purged).model_dump())

    return router
