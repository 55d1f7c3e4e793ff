"""The gateway's outermost ASGI app: it authenticates every request but the public ones,
then sends predict requests straight to their handler and the rest to the FastAPI app."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from scaleserve.api.caller import CALLER_KEY, Caller
from scaleserve.api.predict import PredictHandler, predict_route_model, send_problem
from scaleserve.errors import ScaleserveError
from scaleserve.tenancy.gate import Gate

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"})
"""Liveness, readiness and the API's description: nothing about any tenant's data."""


class Gateway:
    def __init__(self, app: ASGIApp, predict: PredictHandler, gate: Gate) -> None:
        self.app = app
        self._predict = predict
        self._gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] not in PUBLIC_PATHS:
            try:
                tenant = await self._gate.authenticate(_authorization(scope))
            except ScaleserveError as exc:
                await send_problem(send, exc)
                return
            scope[CALLER_KEY] = Caller(tenant, self._gate)
        name = predict_route_model(scope["path"])
        if name is not None:
            await self._predict.handle(name, scope, receive, send)
            return
        await self.app(scope, receive, send)


def _authorization(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            return str(value.decode("latin-1"))
    return None
