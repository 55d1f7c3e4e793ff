"""The OpenAPI document, including each model's predict route with its own item types.

The predict routes are served by a plain Starlette endpoint (see ``predict.py``); here they
are described as FastAPI routes that exist only for the document, one per model, so
clients and fuzzers see the exact input and output schema of every model.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from scaleserve.api.schemas import Problem, predict_request_model, predict_response_model
from scaleserve.model.spec import ModelSpec

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in {
        400: "Malformed JSON or a bad header",
        404: "No such model",
        413: "Body over the size limit",
        415: "Body is not JSON",
        422: "Inputs do not match the model's types",
        500: "The model raised",
        503: "Overloaded, or no healthy worker (see Retry-After)",
        504: "Deadline passed",
    }.items()
}


def predict_doc_route(spec: ModelSpec) -> APIRoute:
    request_model = predict_request_model(spec)
    response_model = predict_response_model(spec)

    async def predict(body: Any) -> Any:  # pragma: no cover - never called, only described
        raise NotImplementedError

    predict.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=request_model
            )
        ],
        return_annotation=response_model,
    )
    doc = (spec.model_class.__doc__ or "").strip()
    return APIRoute(
        f"/v1/models/{spec.name}/predict",
        predict,
        methods=["POST"],
        response_model=response_model,
        responses=_ERRORS,
        tags=["predict"],
        summary=f"Predict with {spec.name} (version {spec.version})",
        description=doc or None,
        operation_id=f"predict_{spec.name}",
    )


def install_openapi(app: FastAPI, specs: Iterable[ModelSpec]) -> None:
    """Replace ``app.openapi`` with one that also describes the predict routes."""
    doc_routes = [predict_doc_route(spec) for spec in specs]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*app.routes, *doc_routes],
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
