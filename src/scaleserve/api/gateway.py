"""The gateway's outermost ASGI app: predict requests go straight to their handler, the rest
to the FastAPI app."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from scaleserve.api.predict import PredictHandler, predict_route_model


class Gateway:
    def __init__(self, app: ASGIApp, predict: PredictHandler) -> None:
        self.app = app
        self._predict = predict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            name = predict_route_model(scope["path"])
            if name is not None:
                await self._predict.handle(name, scope, receive, send)
                return
        await self.app(scope, receive, send)
