"""``/v1/features/{view}``: the calling tenant writes and reads its online features.

The views are those the served models read (``Model.features``). A written row names the
entity (the view's entity key), optionally ``event_ts`` (unix seconds; now by default) and
some features; an older row never replaces a newer value. A wrong row is a 422 naming the
row and field, and nothing of the call is written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from scaleserve.api import problems
from scaleserve.api.caller import caller_of
from scaleserve.api.protocol_route import protocol_route
from scaleserve.errors import TooManyItems, UnknownFeatureView
from scaleserve.features.ingest import TIME_FIELD, ingest
from scaleserve.features.store import FeatureStore
from scaleserve.features.views import FeatureView
from scaleserve.model.spec import ModelSpec

MAX_ROWS_PER_CALL = 10_000
MAX_IDS_PER_READ = 1_000


class FeatureRows(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]] = Field(
        min_length=1,
        description="Each: the view's entity key, optionally `event_ts`, and feature values.",
    )


class Ingested(BaseModel):
    ingested: int


class EntityIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1)


class EntityState(BaseModel):
    values: dict[str, Any]
    missing: list[str]
    stale: list[str]


class FeatureRead(BaseModel):
    entities: dict[str, EntityState]


def served_views(specs: Sequence[ModelSpec]) -> dict[str, FeatureView]:
    """Every feature view a served model reads, by name."""
    return {need.view.name: need.view for spec in specs for need in spec.features}


def build_router(store: FeatureStore, views: dict[str, FeatureView], limit: int) -> APIRouter:
    router = APIRouter(
        prefix="/v1/features",
        tags=["features"],
        route_class=protocol_route(problems.problem_response, limit),
        responses={code: {"description": "problem+json"} for code in (404, 413, 422)},
    )

    def view_of(name: str) -> FeatureView:
        if name not in views:
            raise UnknownFeatureView(name)
        return views[name]

    @router.put("/{view}")
    async def write(view: str, body: FeatureRows, request: Request) -> Ingested:
        """Write rows of a view's features for the caller's entities."""
        found = view_of(view)
        if len(body.rows) > MAX_ROWS_PER_CALL:
            raise TooManyItems("rows", MAX_ROWS_PER_CALL)
        now = time.time()
        rows = [{TIME_FIELD: now, **row} for row in body.rows]
        count = await ingest(store, caller_of(request.scope).tenant.name, found, rows)
        return Ingested(ingested=count)

    @router.post("/{view}/read")
    async def read(view: str, body: EntityIds, request: Request) -> FeatureRead:
        """What the models would read for these entities now: fresh values, and which
        features are missing or stale (their defaults are not applied here)."""
        found = view_of(view)
        if len(body.ids) > MAX_IDS_PER_READ:
            raise TooManyItems("ids", MAX_IDS_PER_READ)
        tenant = caller_of(request.scope).tenant.name
        entities = await store.read_many(tenant, found, body.ids, time.time())
        return FeatureRead(
            entities={
                entity: EntityState(
                    values=dict(state.values),
                    missing=sorted(state.missing),
                    stale=sorted(state.stale),
                )
                for entity, state in entities.items()
            }
        )

    return router
