"""The bodies of the vector collection routes, typed for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scaleserve.vectors.records import MAX_DIMENSION, MAX_ID_LENGTH, MAX_K, Metric

PointId = str


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCollection(_Body):
    name: str = Field(max_length=63, description="`[a-z0-9][a-z0-9_-]*`")
    dimension: int | None = Field(default=None, ge=1, le=MAX_DIMENSION)
    """Optional with a ``model``: then the model's vectors' length."""
    metric: Metric = Metric.COSINE
    model: str | None = Field(default=None, description="A served embedding model for texts.")

    @model_validator(mode="after")
    def _dimension_or_model(self) -> CreateCollection:
        if self.dimension is None and self.model is None:
            raise ValueError("give a dimension, or a model whose vectors set it")
        return self


class Collection(BaseModel):
    name: str
    dimension: int
    metric: Metric
    model: str | None
    count: int
    fields: dict[str, str] = Field(description="Payload field -> keyword, number or bool.")


class Collections(BaseModel):
    collections: list[Collection]


class PointIn(_Body):
    id: PointId = Field(min_length=1, max_length=MAX_ID_LENGTH)
    vector: list[float] | None = None
    text: str | None = Field(
        default=None,
        max_length=100_000,
        description="Embedded by the collection's model; kept as the payload's `text`.",
    )
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _vector_or_text(self) -> PointIn:
        if (self.vector is None) == (self.text is None):
            raise ValueError("give exactly one of vector and text")
        return self


class Upsert(_Body):
    points: list[PointIn] = Field(min_length=1)


class Upserted(BaseModel):
    upserted: int


class Ids(_Body):
    ids: list[PointId] = Field(min_length=1)
    with_vector: bool = False


class PointOut(BaseModel):
    id: PointId
    payload: dict[str, Any]
    vector: list[float] | None = None


class Points(BaseModel):
    points: list[PointOut]


class Deleted(BaseModel):
    deleted: int


class QueryBody(_Body):
    vector: list[float] | None = None
    text: str | None = Field(default=None, max_length=100_000)
    k: int = Field(default=10, ge=1, le=MAX_K)
    filter: dict[str, Any] | None = Field(
        default=None,
        description='e.g. `{"lang": "en", "year": {"gte": 2000}, "or": [...], "not": {...}}`',
    )
    with_payload: bool = True
    with_vector: bool = False

    @model_validator(mode="after")
    def _vector_or_text(self) -> QueryBody:
        if (self.vector is None) == (self.text is None):
            raise ValueError("give exactly one of vector and text")
        return self


class HitOut(BaseModel):
    id: PointId
    score: float = Field(description="Higher is nearer (cosine, dot, or -squared L2).")
    payload: dict[str, Any] | None = None
    vector: list[float] | None = None


class Hits(BaseModel):
    hits: list[HitOut]


class CountBody(_Body):
    filter: dict[str, Any] | None = None


class Count(BaseModel):
    count: int
