"""``GET /v1/usage``: what the calling tenant used of each model, and what it cost; the
admin listener serves every tenant's with the same shape."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from scaleserve.api.caller import caller_of
from scaleserve.model.spec import ModelSpec
from scaleserve.tenancy.gate import Gate
from scaleserve.tenancy.records import Usage
from scaleserve.tenancy.usage import check_day, cost, cost_per_1k_predictions, summarize

Grouping = Literal["total", "day"]


class UsageRow(BaseModel):
    tenant: str
    model: str
    day: str
    """The UTC day, or the span ``first..last`` of a total."""
    requests: int
    items: int
    errors: int
    compute_s: float
    tokens: int
    cost: float | None
    """At the model's configured prices; ``None`` when it has none."""
    cost_per_1k_predictions: float | None


class UsageReport(BaseModel):
    data: list[UsageRow]


def build_router() -> APIRouter:
    router = APIRouter(tags=["usage"])

    @router.get("/v1/usage")
    async def my_usage(
        request: Request,
        since: str | None = Query(default=None, description="First UTC day, YYYY-MM-DD."),
        until: str | None = Query(default=None, description="Last UTC day, YYYY-MM-DD."),
        group: Grouping = "total",
    ) -> UsageReport:
        """The calling tenant's requests, items, errors, compute seconds and tokens per
        model, with their cost; per day with ``group=day``."""
        caller = caller_of(request.scope)
        prices = request.app.state.specs_by_name
        return await usage_report(
            caller.gate, caller.tenant.name, prices, since=since, until=until, group=group
        )

    return router


async def usage_report(
    gate: Gate,
    tenant: str | None,
    specs: Mapping[str, ModelSpec],
    *,
    since: str | None,
    until: str | None,
    group: Grouping,
) -> UsageReport:
    """``tenant``'s usage (``None``: everyone's), with what this gateway counted so far."""
    since, until = check_day(since), check_day(until)
    await gate.usage.flush()
    rows: Sequence[Usage] = await gate.usage_store.query(tenant, since, until)
    if group == "total":
        rows = summarize(rows)
    return UsageReport(data=[_row(row, specs.get(row.model)) for row in rows])


def _row(usage: Usage, spec: ModelSpec | None) -> UsageRow:
    per_s = spec.price_per_compute_s if spec else None
    per_1k = spec.price_per_1k_items if spec else None
    return UsageRow(
        **dataclasses.asdict(usage),
        cost=cost(usage, per_s, per_1k),
        cost_per_1k_predictions=cost_per_1k_predictions(usage, per_s, per_1k),
    )
