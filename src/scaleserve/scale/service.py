"""The three ways to run scaleserve.

- ``serve``: the gateway and its supervised workers in one command (embedded queue by
  default, Redis with ``--redis``).
- ``api``: only the gateway, on Redis; any number, on any machines.
- ``worker``: only supervised workers, on Redis; any number, on any machines.

Order of a clean stop (SIGTERM or Ctrl-C): the gateway stops accepting connections and
finishes the requests it holds (workers still running); then every worker drains and exits;
then the queue closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from scaleserve.api.admin import build_admin_app
from scaleserve.api.app import create_app
from scaleserve.cache.result_cache import ResultCache
from scaleserve.errors import ConfigError
from scaleserve.model.spec import ModelSpec
from scaleserve.observe.drift_watch import DriftWatch
from scaleserve.observe.logs import log_format
from scaleserve.observe.recent_errors import RecentErrors
from scaleserve.pipelines.graph import PipelineGraph
from scaleserve.scale.autoscaler import gpu_assigner, local_autoscaler
from scaleserve.scale.capacity import Capacity
from scaleserve.scale.composition import audit_log, feature_store, pipelines, vector_store
from scaleserve.scale.parts import gateway_parts
from scaleserve.scale.registry_serving import RegistryServing
from scaleserve.scale.runtime_dir import RuntimeDir
from scaleserve.scale.supervisor import Pool, Supervisor
from scaleserve.scale.worker_plans import queue_args, target_pool, worker_env
from scaleserve.settings import ServeSettings
from scaleserve.tenancy.admin import bootstrap
from scaleserve.tenancy.gate import Gate
from scaleserve.tenancy.records import ADMIN_TENANT

log = logging.getLogger(__name__)


def worker_pools(settings: ServeSettings, specs: list[ModelSpec], socket_path: str) -> list[Pool]:
    """One pool of worker processes per model of the targets."""
    env = worker_env(sum(max(1, spec.initial_workers) for spec in specs))
    source = queue_args(settings, socket_path)
    return [target_pool(spec, source, env) for spec in specs]


async def serve(
    settings: ServeSettings,
    specs: list[ModelSpec],
    runtime: RuntimeDir,
    *,
    workers: bool = True,
    models: list[str] | None = None,
    graphs: Sequence[PipelineGraph] = (),
) -> None:
    """The gateway (and, unless ``workers`` is False, its workers) until SIGTERM/SIGINT.

    ``specs`` are the targets' models; ``models`` names registry models served besides;
    ``graphs`` are the targets' pipelines.
    """
    specs = _with_worker_count(settings, specs)
    capacity = Capacity.from_env()
    gpus = gpu_assigner(specs, capacity)
    supervisor = Supervisor(
        worker_pools(settings, specs, runtime.socket_path) if workers else [],
        slot_env=gpus.env if gpus else None,
    )
    registry = RegistryServing(
        settings, models or [], supervisor if workers else None, runtime.socket_path
    )
    async with (
        vector_store(settings) as vectors,
        pipelines(settings, graphs, vectors) as served_pipelines,
        gateway_parts(settings, specs, runtime.socket_path, registry, served_pipelines) as parts,
        ResultCache(
            parts.specs, parts.broker, settings.cache, settings.redis_url, settings.redis_prefix
        ) as cache,
        feature_store(settings, parts.specs) as features,
        audit_log(settings, parts.specs) as audit,
    ):
        drain_s = settings.gateway.drain_timeout_s
        scaling = None
        if workers:
            scaling = local_autoscaler(
                specs, supervisor, parts.broker, capacity, drain_timeout_s=drain_s, gpus=gpus,
                lanes=registry.pools is not None,
            )  # fmt: skip
        if scaling is not None and registry.pools is not None:
            registry.pools.scale_with(scaling)
        specs = parts.specs
        await _first_start(settings, parts.gate)
        drift = DriftWatch(specs) if any(spec.drift for spec in specs) else None
        errors = RecentErrors()
        app = create_app(
            specs,
            parts.broker,
            settings.gateway,
            parts.gate,
            jobs=parts.jobs,
            cache=cache,
            routing=bool(models) or bool(graphs),
            gauges=scaling.gauges if scaling else None,
            drift=drift,
            errors=errors,
            vectors=vectors,
            features=features,
            audit=audit.sink if audit else None,
        )
        server = _server(settings, app, settings.gateway.host, settings.gateway.port)
        admin_app = build_admin_app(
            specs,
            parts.broker,
            parts.gate,
            cache,
            settings.tenancy.admin_host,
            registry=registry.registry,
            gauges=scaling.gauges if scaling else None,
            drift=drift,
            dashboard_extras=_dashboard_extras(errors),
            audit=audit.store if audit else None,
        )
        admin = _server(settings, admin_app, settings.tenancy.admin_host, settings.admin_port)
        await supervisor.start()
        if scaling is not None:
            await scaling.start()
        # uvicorn re-raises the signal that stopped it once it has shut down; handlers of
        # our own keep that from killing this process before the workers have drained.
        _absorb_stop_signals()
        admin_task = asyncio.create_task(admin.serve())
        try:
            await server.serve()
        finally:
            await admin_app.state.dashboard.close()  # open pages would hold the stop
            admin.should_exit = True
            await admin_task
            log.info("gateway stopped; draining workers")
            if scaling is not None:
                await scaling.close()
            await supervisor.stop(drain_s)


def _dashboard_extras(errors: RecentErrors) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def extras() -> dict[str, Any]:
        return {"recent_errors": errors.rows()}

    return extras


def _server(settings: ServeSettings, app: ASGIApp, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=settings.log_level,
            log_config=None if log_format() == "json" else uvicorn.config.LOGGING_CONFIG,
            access_log=False,
            proxy_headers=settings.gateway.proxy_headers,
            timeout_graceful_shutdown=int(settings.gateway.drain_timeout_s),
        )
    )


async def _first_start(settings: ServeSettings, gate: Gate) -> None:
    """Print the keys of a deployment's first start once (as Jupyter prints its token), or
    say loudly that anyone may call."""
    if not settings.tenancy.auth:
        log.warning(
            "AUTHENTICATION IS OFF (--no-auth): anyone who reaches %s:%d can use every model",
            settings.gateway.host,
            settings.gateway.port,
        )
        return
    for new in await bootstrap(gate.store, gate.hasher, time.time()):
        who = "admin key" if new.record.tenant == ADMIN_TENANT else f"tenant {new.record.tenant!r}"
        banner = f"\n    API key for {who} (shown once, store it now):\n\n        {new.key}\n"
        print(banner, file=sys.stderr, flush=True)


async def work(
    settings: ServeSettings, specs: list[ModelSpec], models: list[str] | None = None
) -> None:
    """Only supervised workers (Redis), until SIGTERM/SIGINT; then they drain. ``models``:
    registry models whose serving versions get pools here, following every deployment."""
    specs = _with_worker_count(settings, specs)
    supervisor = Supervisor(worker_pools(settings, specs, socket_path=""))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        if models:
            await _worker_registry(settings, models, supervisor, stack)
        await supervisor.start()
        log.info("workers starting; Ctrl-C or SIGTERM drains them")
        await stop.wait()
        await supervisor.stop(settings.gateway.drain_timeout_s)


async def _worker_registry(
    settings: ServeSettings,
    models: list[str],
    supervisor: Supervisor,
    stack: contextlib.AsyncExitStack,
) -> None:
    """Pools for the serving versions of registry ``models`` on this worker host."""
    from scaleserve.queue.backends.redis_broker import RedisBroker
    from scaleserve.queue.backends.redis_connection import connect
    from scaleserve.redis_keys import RedisKeys

    if settings.redis_url is None:
        raise ConfigError("'scaleserve worker' needs Redis")
    redis = connect(settings.redis_url)
    stack.push_async_callback(redis.aclose)
    lanes = RedisBroker(redis, [], RedisKeys(settings.redis_prefix))  # queue stats, lanes
    await lanes.start()
    stack.push_async_callback(lanes.close)
    registry = RegistryServing(settings, models, supervisor, "", routing=False)
    await registry.attach(lanes, stack)


def run(main: Coroutine[Any, Any, None], runtime: RuntimeDir) -> int:
    try:
        import uvloop

        uvloop.run(main)
    finally:
        runtime.remove()
    return 0


def _with_worker_count(settings: ServeSettings, specs: list[ModelSpec]) -> list[ModelSpec]:
    if settings.workers is None:
        return specs
    return [spec.with_workers(settings.workers) for spec in specs]


def _absorb_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
