"""Pydantic shapes of the HTTP API, built per model from its declared item types."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from scaleserve.model.spec import ModelSpec


def _title(spec: ModelSpec) -> str:
    return "".join(
        part.capitalize() for part in spec.name.replace(".", "_").replace("-", "_").split("_")
    )


def predict_request_model(spec: ModelSpec) -> type[BaseModel]:
    """``{"inputs": [In, ...]}`` for one model; extra fields are refused so typos surface."""
    example = spec.model_class.example_input
    return create_model(
        f"{_title(spec)}PredictRequest",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"inputs": [example]}]}
            if example is not None
            else None,
        ),
        inputs=(
            list[spec.input_type],  # type: ignore[name-defined]
            Field(
                min_length=1,
                max_length=spec.max_items_per_request,
                description="Input items; one output comes back for each, in order.",
            ),
        ),
    )


def predict_response_model(spec: ModelSpec) -> type[BaseModel]:
    return create_model(
        f"{_title(spec)}PredictResponse",
        model=(str, Field(description="The model that answered.")),
        version=(str, Field(description="The version of the model that answered.")),
        outputs=(list[spec.output_type], ...),  # type: ignore[name-defined]
    )


class Problem(BaseModel):
    """An error body (RFC 9457 problem details, plus a stable ``code``)."""

    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


class VersionCard(BaseModel):
    """One version of a registry model that has workers now."""

    version: str
    role: str
    """``stable``, ``candidate`` or ``retiring`` (draining after a swap or a rollback)."""
    weight: float
    """Share of requests it answers, in percent."""
    ready_workers: int


class RolloutCard(BaseModel):
    candidate: str
    weight: float
    shadow: float
    sticky: str


class ModelCard(BaseModel):
    """One served model, in the shape OpenAI clients read from ``GET /v1/models``."""

    id: str
    object: str = "model"
    created: int
    owned_by: str = "scaleserve"
    version: str
    ready_workers: int
    max_batch_size: int
    max_wait_ms: float
    versions: list[VersionCard] | None = None
    """A registry model's versions with workers (``None``: a model served from a file)."""
    rollout: RolloutCard | None = None


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


class Readiness(BaseModel):
    ready: bool
    models: dict[str, int] = Field(description="Warm workers per model.")


class Liveness(BaseModel):
    status: str = "ok"
