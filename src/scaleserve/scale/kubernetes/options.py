"""What a rendered deployment is made of besides its models."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_IMAGE = "ghcr.io/scaleserve/app:latest"


@dataclass(frozen=True)
class KubernetesOptions:
    image: str = DEFAULT_IMAGE
    """The image built from the project's ``Dockerfile`` with the models' code (never their
    weights: those come from the registry or the model's own package at start)."""
    namespace: str = "scaleserve"
    redis_prefix: str = "scaleserve"
    gateway_replicas: int = 2
    gateway_max_replicas: int = 10
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    """Where KEDA's Prometheus-trigger alternative reads the backlog."""
    drain_timeout_s: float = 30.0
    stop_grace_s: float = 25.0
    """A worker's grace period after SIGTERM (``SCALESERVE_STOP_GRACE_S``)."""
    load_timeout_s: float = 600.0
    """How long a worker may take to load and warm up before Kubernetes gives up on it."""
    environments: tuple[str, ...] = ("staging", "production")
