"""The registry side of one ``scaleserve`` process: the registry it administers and, for the
registry models it serves (``models:/NAME`` targets), their deployer, router and tallies."""

from __future__ import annotations

import contextlib
from pathlib import Path

from redis.asyncio import Redis

from scaleserve.model.spec import ModelSpec
from scaleserve.redis_keys import RedisKeys
from scaleserve.registry.opening import OpenRegistry, open_registry
from scaleserve.registry.redis_stats import RedisRolloutStats
from scaleserve.registry.registry import Registry
from scaleserve.registry.routed_broker import RoutedBroker
from scaleserve.registry.router import Router
from scaleserve.registry.stats import LocalRolloutStats, RolloutStats
from scaleserve.scale.deployer import Deployer, LaneBroker
from scaleserve.scale.pools import SupervisedPools
from scaleserve.scale.supervisor import Supervisor
from scaleserve.scale.worker_plans import queue_args, worker_env
from scaleserve.settings import ServeSettings

REGISTRY_TARGET_PREFIX = "models:/"


def split_targets(targets: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``(file or module targets, registry model names)`` of ``scaleserve serve`` targets."""
    files = [t for t in targets if not t.startswith(REGISTRY_TARGET_PREFIX)]
    models = [t.removeprefix(REGISTRY_TARGET_PREFIX).strip("/") for t in targets if t not in files]
    return files, models


class RegistryServing:
    """Opened by ``attach`` once the process's broker exists; closed with its exit stack."""

    def __init__(
        self,
        settings: ServeSettings,
        models: list[str],
        supervisor: Supervisor | None,
        socket_path: str,
        *,
        routing: bool = True,
    ) -> None:
        self._settings = settings
        self.models = models
        self._supervisor = supervisor
        self._socket_path = socket_path
        self._routing = routing
        self._opened: OpenRegistry | None = None
        self.deployer: Deployer | None = None
        self.pools: SupervisedPools | None = None
        """The versions' worker pools on this host (``None``: workers run elsewhere)."""

    @property
    def registry(self) -> Registry:
        if self._opened is None:
            raise RuntimeError("the registry is not open yet")
        return self._opened.registry

    async def attach(
        self, inner: LaneBroker, stack: contextlib.AsyncExitStack, redis: Redis | None = None
    ) -> tuple[LaneBroker | RoutedBroker, list[ModelSpec]]:
        """Open the registry and start serving its models through ``inner``: the broker the
        routes must use, and the public specs of the registry models."""
        settings = self._settings
        opened = await stack.enter_async_context(
            open_registry(settings.registry, settings.data_dir)
        )
        self._opened = opened
        if not self.models:
            return inner, []
        routed = stats = None
        self.pools = self._pools()
        if self._routing:
            stats = await self._stats(redis, stack)
            routed = RoutedBroker(inner, Router(inner.ready_workers), stats)
            stack.push_async_callback(routed.close)
        self.deployer = Deployer(
            opened,
            self.models,
            settings.registry,
            lanes=inner,
            routed=routed,
            stats=stats,
            pools=self.pools,
            workers=settings.workers,
        )
        specs = await self.deployer.open()
        await self.deployer.start()
        stack.push_async_callback(self.deployer.close)
        return (routed or inner), specs

    async def _stats(self, redis: Redis | None, stack: contextlib.AsyncExitStack) -> RolloutStats:
        """Tallies of this gateway alone, or of every gateway sharing the Redis."""
        if redis is None:
            return LocalRolloutStats()
        shared = RedisRolloutStats(redis, RedisKeys(self._settings.redis_prefix))
        await shared.start()
        stack.push_async_callback(shared.close)
        return shared

    def _pools(self) -> SupervisedPools | None:
        if self._supervisor is None:
            return None
        settings = self._settings
        return SupervisedPools(
            self._supervisor,
            queue_args(settings, self._socket_path),
            worker_env(max(1, len(self.models))),
            Path(settings.data_dir) / "lanes",
            settings.gateway.drain_timeout_s,
        )
