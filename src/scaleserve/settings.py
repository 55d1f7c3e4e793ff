"""Settings: one small frozen object per part, built once at start from the environment
(``SCALESERVE_*``) and the command line, command line first."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scaleserve.audit.settings import AuditSettings
from scaleserve.cache.settings import CacheSettings
from scaleserve.errors import ConfigError
from scaleserve.jobs.settings import JobSettings
from scaleserve.registry.settings import RegistrySettings
from scaleserve.tenancy.settings import TenancySettings
from scaleserve.vectors.settings import VectorSettings

ENV_PREFIX = "SCALESERVE_"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _env(name: str, default: Any, cast: Callable[[str], Any]) -> Any:
    raw = os.environ.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a valid value") from None


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


@dataclass(frozen=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 16 * 1024 * 1024
    max_timeout_s: float = 300.0
    """Largest deadline a client may ask for with ``X-Request-Timeout``."""
    drain_timeout_s: float = 30.0
    """On SIGTERM, how long in-flight requests and workers get to finish."""
    proxy_headers: bool = False
    """Trust ``X-Forwarded-*`` from a reverse proxy on loopback."""
    body_timeout_s: float = 30.0
    """Longest a request's body may take to arrive whole, from the request's start (408)."""

    @classmethod
    def from_env(cls) -> GatewaySettings:
        defaults = cls()
        return cls(
            host=_env("HOST", defaults.host, str),
            port=_env("PORT", defaults.port, int),
            max_body_bytes=_env("MAX_BODY_BYTES", defaults.max_body_bytes, int),
            max_timeout_s=_env("MAX_TIMEOUT_S", defaults.max_timeout_s, float),
            drain_timeout_s=_env("DRAIN_TIMEOUT_S", defaults.drain_timeout_s, float),
            proxy_headers=_env("PROXY_HEADERS", defaults.proxy_headers, _bool),
            body_timeout_s=_env("BODY_TIMEOUT_S", defaults.body_timeout_s, float),
        )


@dataclass(frozen=True)
class ServeSettings:
    """What ``scaleserve serve`` runs: its targets, their workers, and the gateway."""

    targets: tuple[str, ...]
    """Where the served models are declared (directories, files or modules)."""
    workers: int | None = None
    """Worker processes per model; ``None`` keeps each model's own ``workers``."""
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    log_level: str = "info"
    redis_url: str | None = None
    """Redis shared by every gateway and worker (``redis://host:port/db``); ``None``: embedded."""
    redis_prefix: str = "scaleserve"
    """Prefix of every Redis key (and RabbitMQ queue, NATS stream and subject), so that
    deployments can share one broker."""
    queue_url: str | None = None
    """The queue's broker when it is RabbitMQ (``amqp://``, ``amqps://``) or NATS JetStream
    (``nats://``); ``None``: Redis at ``redis_url``, else embedded. A ``redis://`` URL given
    here (``--queue``, ``SCALESERVE_QUEUE_URL``) becomes ``redis_url``."""
    durable: bool = False
    """Refuse to start on a Redis that may lose accepted jobs (eviction, no persistence)."""
    data_dir: str = ".scaleserve"
    """Where the embedded service keeps what must survive a restart (the job database)."""
    feast_repo: str | None = None
    """A Feast repository whose online store the models' features are read from (for the
    ``default`` tenant; written with Feast's own tools), instead of scaleserve's store."""
    jobs: JobSettings = field(default_factory=JobSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    tenancy: TenancySettings = field(default_factory=TenancySettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    vectors: VectorSettings = field(default_factory=VectorSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)

    @classmethod
    def from_env(cls, targets: Sequence[str], **overrides: Any) -> ServeSettings:
        """Settings from the environment, with non-``None`` ``overrides`` (CLI flags) on top."""
        gateway_fields = {"host", "port", "max_body_bytes", "max_timeout_s", "drain_timeout_s"}
        tenancy_fields = {"auth", "admin_host", "admin_port"}
        gateway = replace(
            GatewaySettings.from_env(),
            **{k: v for k, v in overrides.items() if k in gateway_fields and v is not None},
        )
        tenancy = replace(
            _tenancy_from_env(),
            **{k: v for k, v in overrides.items() if k in tenancy_fields and v is not None},
        )
        rest = {
            k: v
            for k, v in overrides.items()
            if k not in gateway_fields | tenancy_fields and v is not None
        }
        settings = cls(
            targets=tuple(targets),
            workers=_env("WORKERS", None, int),
            gateway=gateway,
            log_level=_env("LOG_LEVEL", "info", str),
            redis_url=_env("REDIS_URL", None, str),
            redis_prefix=_env("REDIS_PREFIX", "scaleserve", str),
            queue_url=_env("QUEUE_URL", None, str),
            durable=_env("DURABLE", False, _bool),
            data_dir=_env("DATA_DIR", ".scaleserve", str),
            feast_repo=_env("FEAST_REPO", None, str),
            jobs=JobSettings(
                result_ttl_s=_env("JOB_RESULT_TTL_S", JobSettings.result_ttl_s, float),
                max_attempts=_env("JOB_MAX_ATTEMPTS", JobSettings.max_attempts, int),
                max_wait_s=_env("JOB_MAX_WAIT_S", JobSettings.max_wait_s, float),
                max_running_per_model=_env(
                    "JOB_MAX_RUNNING", JobSettings.max_running_per_model, int
                ),
                sweep_interval_s=_env("JOB_SWEEP_INTERVAL_S", JobSettings.sweep_interval_s, float),
                history_url=_env("JOBS_HISTORY_URL", None, str),
                history_schema=_env("JOBS_HISTORY_SCHEMA", JobSettings.history_schema, str),
                history_retention_days=_env(
                    "JOBS_HISTORY_RETENTION_DAYS", JobSettings.history_retention_days, float
                ),
            ),
            cache=CacheSettings(
                memory_tier=_env("CACHE_MEMORY_TIER", CacheSettings.memory_tier, _bool),
                redis_timeout_s=_env("CACHE_REDIS_TIMEOUT_S", CacheSettings.redis_timeout_s, float),
            ),
            tenancy=tenancy,
            registry=registry_from_env(),
            vectors=VectorSettings(url=_env("VECTORS_URL", None, str)),
            audit=AuditSettings(
                url=_env("AUDIT_URL", None, str),
                schema=_env("AUDIT_SCHEMA", AuditSettings.schema, str),
                retention_days=_env("AUDIT_RETENTION_DAYS", AuditSettings.retention_days, int),
            ),
        )
        settings = _queue_choice(replace(settings, **rest))
        if settings.workers is not None and settings.workers < 1:
            raise ConfigError("--workers must be at least 1")
        if not settings.tenancy.auth and settings.gateway.host not in LOOPBACK_HOSTS:
            raise ConfigError(
                f"--no-auth is refused when listening on {settings.gateway.host}: without API "
                "keys anyone who reaches the port can use every model; listen on 127.0.0.1"
            )
        return settings

    @property
    def admin_port(self) -> int:
        port = self.tenancy.admin_port
        return self.gateway.port + 1 if port is None else port


QUEUE_SCHEMES = ("amqp://", "amqps://", "nats://", "tls://")


def _queue_choice(settings: ServeSettings) -> ServeSettings:
    """``queue_url`` kept for RabbitMQ and NATS, moved to ``redis_url`` for Redis."""
    url = settings.queue_url
    if url is None or url.startswith(QUEUE_SCHEMES):
        return settings
    if url.startswith(("redis://", "rediss://", "unix://")):
        return replace(settings, redis_url=url, queue_url=None)
    raise ConfigError(
        f"unknown queue URL {url!r}: use redis://, amqp:// (RabbitMQ) or nats:// (NATS)"
    )


def _tenancy_from_env() -> TenancySettings:
    defaults = TenancySettings()
    return TenancySettings(
        auth=_env("AUTH", defaults.auth, _bool),
        admin_host=_env("ADMIN_HOST", defaults.admin_host, str),
        admin_port=_env("ADMIN_PORT", defaults.admin_port, int),
        key_cache_ttl_s=_env("KEY_CACHE_TTL_S", defaults.key_cache_ttl_s, float),
        usage_flush_interval_s=_env(
            "USAGE_FLUSH_INTERVAL_S", defaults.usage_flush_interval_s, float
        ),
        key_pepper=_env("KEY_PEPPER", defaults.key_pepper, str),
    )


def registry_from_env() -> RegistrySettings:
    defaults = RegistrySettings()
    return RegistrySettings(
        url=_env("REGISTRY_URL", defaults.url, str),
        schema=_env("REGISTRY_SCHEMA", defaults.schema, str),
        artifacts_url=_env("ARTIFACTS_URL", defaults.artifacts_url, str),
        cache_dir=_env("ARTIFACT_CACHE", defaults.cache_dir, str),
        warm_timeout_s=_env("WARM_TIMEOUT_S", defaults.warm_timeout_s, float),
        tick_s=_env("ROLLOUT_TICK_S", defaults.tick_s, float),
    )
