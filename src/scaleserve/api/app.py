"""The app factory: the one place the gateway's HTTP surface is wired together."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

import scaleserve
from scaleserve.api import jobs as job_routes
from scaleserve.api import openapi, problems, routes
from scaleserve.api.gateway import Gateway
from scaleserve.api.jobs import JobsApi
from scaleserve.api.predict import PredictHandler
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.broker import Broker
from scaleserve.settings import GatewaySettings


def create_app(
    specs: Sequence[ModelSpec],
    broker: Broker,
    settings: GatewaySettings,
    jobs: JobsApi | None = None,
) -> Gateway:
    """The gateway's ASGI app for ``specs`` served through ``broker`` (and ``jobs``, when given).

    The lifecycles of the broker and the job store belong to the caller: the app only uses them.
    """
    app = FastAPI(
        title="scaleserve",
        version=scaleserve.__version__,
        description="Models served by scaleserve: " + ", ".join(s.name for s in specs),
    )
    routes.include(app, specs, broker)
    if jobs is not None:
        app.include_router(job_routes.build_router(jobs))
    problems.install_handlers(app)
    openapi.install_openapi(app, specs)
    return Gateway(app, PredictHandler(specs, broker, settings))
