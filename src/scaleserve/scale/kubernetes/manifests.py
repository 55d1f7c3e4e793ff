"""The Kubernetes objects of a deployment, as plain dictionaries.

- the gateway: a ``Deployment`` (``scaleserve api``), its ``Service``, a
  ``PodDisruptionBudget`` and a CPU ``HorizontalPodAutoscaler``;
- per model a worker ``Deployment`` (``scaleserve worker``, one worker per pod) with its
  resources, GPUs, probes (the worker's heartbeat file: ready means warm, a stale beat means
  wedged) and a termination grace matching its drain; and, for an autoscaled model, a KEDA
  ``ScaledObject`` on its Redis stream (a Prometheus-trigger alternative on the same backlog
  metric is rendered beside it);
- a KEDA ``TriggerAuthentication``, a Prometheus Operator ``ServiceMonitor`` and the shared
  ``ConfigMap``. Redis and PostgreSQL are external services whose credentials come from
  Secrets (``scaleserve-redis``: ``url``, ``address``, ``password``; ``scaleserve-postgres``:
  ``url``; ``scaleserve-metrics``: ``token``, a tenant key Prometheus scrapes with).
"""

from __future__ import annotations

import math
from typing import Any

from scaleserve.model.spec import ModelSpec
from scaleserve.redis_keys import RedisKeys
from scaleserve.scale.kubernetes.options import KubernetesOptions
from scaleserve.worker.health import HEALTH_ENV

Manifest = dict[str, Any]
PART_OF = {"app.kubernetes.io/part-of": "scaleserve"}
# names of Secrets the cluster holds, not secrets
REDIS_SECRET = "scaleserve-redis"  # noqa: S105
POSTGRES_SECRET = "scaleserve-postgres"  # noqa: S105
METRICS_SECRET = "scaleserve-metrics"  # noqa: S105
CONFIG_MAP = "scaleserve-config"
DATA_DIR = "/var/lib/scaleserve"
HEALTH_FILE = "/tmp/scaleserve-health"  # noqa: S108 - an emptyDir of the pod's own
GATEWAY_PORT, ADMIN_PORT = 8000, 8001
PROBE_PERIOD_S = 5
GPU = "nvidia.com/gpu"
CPU_TARGET = {"type": "Utilization", "averageUtilization": 70}


def config_map(options: KubernetesOptions) -> Manifest:
    data = {
        "SCALESERVE_REDIS_PREFIX": options.redis_prefix,
        "SCALESERVE_DATA_DIR": DATA_DIR,
        "SCALESERVE_ARTIFACT_CACHE": f"{DATA_DIR}/artifact-cache",
        "SCALESERVE_DRAIN_TIMEOUT_S": f"{options.drain_timeout_s:g}",
        "SCALESERVE_STOP_GRACE_S": f"{options.stop_grace_s:g}",
        "HF_HUB_OFFLINE": "1",
    }
    return _object("v1", "ConfigMap", CONFIG_MAP, {}, data=data)


def gateway(targets: list[str], options: KubernetesOptions) -> list[Manifest]:
    labels = {**PART_OF, "app.kubernetes.io/name": "gateway"}
    args = ["api", *targets, "--host", "0.0.0.0", "--port", str(GATEWAY_PORT)]  # noqa: S104
    container = {
        **_container("gateway", options, args),
        "ports": [
            {"name": "http", "containerPort": GATEWAY_PORT},
            {"name": "admin", "containerPort": ADMIN_PORT},
        ],
        "resources": {
            "requests": {"cpu": "500m", "memory": "256Mi"},
            "limits": {"memory": "1Gi"},
        },
        "readinessProbe": _http_probe("/healthz", failure_threshold=2),
        "livenessProbe": _http_probe("/healthz", failure_threshold=6),
        # endpoints forget the pod before it stops taking connections
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
    }
    grace = math.ceil(options.drain_timeout_s) + 10
    deployment = _deployment("gateway", labels, container, options.gateway_replicas, grace)
    service = _object(
        "v1", "Service", "gateway", labels,
        spec={
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    )  # fmt: skip
    budget = _object(
        "policy/v1", "PodDisruptionBudget", "gateway", labels,
        spec={"minAvailable": 1, "selector": {"matchLabels": labels}},
    )  # fmt: skip
    scaler = _object(
        "autoscaling/v2", "HorizontalPodAutoscaler", "gateway", labels,
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"},
            "minReplicas": options.gateway_replicas,
            "maxReplicas": options.gateway_max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": CPU_TARGET}}],
        },
    )  # fmt: skip
    return [deployment, service, budget, scaler]


def worker(spec: ModelSpec, target: str, options: KubernetesOptions) -> Manifest:
    """The Deployment of one model's workers (one worker per pod)."""
    name = worker_name(spec.name)
    labels = {**PART_OF, "app.kubernetes.io/name": name, "scaleserve.io/model": spec.name}
    args = ["worker", target, "--workers", "1"]
    container = {
        **_container("worker", options, args),
        "resources": _resources(spec),
        "startupProbe": _health_probe(
            failure_threshold=math.ceil(options.load_timeout_s / PROBE_PERIOD_S)
        ),
        "readinessProbe": _health_probe(failure_threshold=1),
        "livenessProbe": _health_probe(failure_threshold=3, max_age_s=120),
        # the supervisor (PID 1) drains its worker on SIGTERM: nothing to do before it
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}},
    }
    container["env"] = [
        *container["env"],
        {"name": HEALTH_ENV, "value": HEALTH_FILE},
        {"name": "SCALESERVE_CPU_THREADS", "value": str(max(1, math.ceil(spec.worker_cpus)))},
    ]
    replicas = spec.workers if spec.autoscale is None else max(1, spec.autoscale.min_workers)
    grace = math.ceil(options.stop_grace_s) + 15
    deployment = _deployment(name, labels, container, replicas, grace)
    if spec.worker_gpus:
        pod = deployment["spec"]["template"]["spec"]
        pod["tolerations"] = [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
        pod["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
    if spec.autoscale is not None:
        del deployment["spec"]["replicas"]  # KEDA owns the replica count
    return deployment


def scaled_object(spec: ModelSpec, options: KubernetesOptions, *, prometheus: bool) -> Manifest:
    """KEDA's ScaledObject for an autoscaled model: on its stream's lag, or (the
    alternative) on the backlog metric in Prometheus."""
    policy = spec.autoscale
    if policy is None:
        raise ValueError(f"{spec.name} is not autoscaled")
    per_worker = policy.target_backlog_per_worker or 2 * spec.max_batch_size
    trigger = _prometheus_trigger(spec.name, per_worker, options) if prometheus else {
        "type": "redis-streams",
        "metadata": {
            "addressFromEnv": "SCALESERVE_REDIS_ADDRESS",
            "stream": RedisKeys(options.redis_prefix).stream(spec.queue_name),
            "consumerGroup": "workers",
            "lagCount": str(math.ceil(per_worker)),
            "activationLagCount": "0",
        },
        "authenticationRef": {"name": REDIS_SECRET},
    }  # fmt: skip
    name = worker_name(spec.name)
    return _object(
        "keda.sh/v1alpha1", "ScaledObject", name + ("-prometheus" if prometheus else ""),
        {**PART_OF, "scaleserve.io/model": spec.name},
        spec={
            "scaleTargetRef": {"name": name},
            "pollingInterval": 5,
            "cooldownPeriod": max(1, math.ceil(policy.down_stabilization_s)),
            "minReplicaCount": policy.min_workers,
            "maxReplicaCount": policy.max_workers,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": math.ceil(policy.up_stabilization_s)},
                "scaleDown": {"stabilizationWindowSeconds": math.ceil(policy.down_stabilization_s)},
            }}},
            "triggers": [trigger],
        },
    )  # fmt: skip


def trigger_authentication() -> Manifest:
    return _object(
        "keda.sh/v1alpha1", "TriggerAuthentication", REDIS_SECRET, PART_OF,
        spec={"secretTargetRef": [
            {"parameter": "password", "name": REDIS_SECRET, "key": "password"},
        ]},
    )  # fmt: skip


def service_monitor() -> Manifest:
    return _object(
        "monitoring.coreos.com/v1", "ServiceMonitor", "scaleserve", PART_OF,
        spec={
            "selector": {"matchLabels": {**PART_OF, "app.kubernetes.io/name": "gateway"}},
            "endpoints": [{
                "port": "http",
                "path": "/metrics",
                "interval": "15s",
                "authorization": {"credentials": {"name": METRICS_SECRET, "key": "token"}},
            }],
        },
    )  # fmt: skip


def worker_name(model: str) -> str:
    """A DNS-1123 name for a model's workers (model names may hold ``.`` and ``_``)."""
    return "worker-" + "".join(c if c.isalnum() else "-" for c in model).strip("-")[:50]


def _prometheus_trigger(model: str, per_worker: float, options: KubernetesOptions) -> Manifest:
    return {
        "type": "prometheus",
        "metadata": {
            "serverAddress": options.prometheus_url,
            "query": f'sum(scaleserve_queue_queued{{model="{model}"}})',
            "threshold": f"{per_worker:g}",
            "activationThreshold": "0",
        },
    }


def _object(
    api_version: str,
    kind: str,
    name: str,
    labels: dict[str, str],
    spec: Manifest | None = None,
    **fields: Any,
) -> Manifest:
    manifest: Manifest = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "labels": dict(labels)},
    }
    if spec is not None:
        manifest["spec"] = spec
    manifest.update(fields)
    return manifest


def _deployment(
    name: str, labels: dict[str, str], container: Manifest, replicas: int, grace_s: int
) -> Manifest:
    return _object(
        "apps/v1", "Deployment", name, labels,
        spec={
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": grace_s,
                    "securityContext": {
                        "runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "data", "emptyDir": {}},
                    ],
                },
            },
        },
    )  # fmt: skip


def _container(name: str, options: KubernetesOptions, args: list[str]) -> Manifest:
    return {
        "name": name,
        "image": options.image,
        "args": args,
        "envFrom": [{"configMapRef": {"name": CONFIG_MAP}}],
        "env": [
            _secret_env("SCALESERVE_REDIS_URL", REDIS_SECRET, "url"),
            _secret_env("SCALESERVE_REDIS_ADDRESS", REDIS_SECRET, "address"),
            _secret_env("SCALESERVE_REGISTRY_URL", POSTGRES_SECRET, "url", optional=True),
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
            {"name": "data", "mountPath": DATA_DIR},
        ],
    }


def _secret_env(name: str, secret: str, key: str, *, optional: bool = False) -> Manifest:
    ref: Manifest = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def _resources(spec: ModelSpec) -> Manifest:
    cpu = f"{max(1, round(spec.worker_cpus * 1000))}m"
    memory = f"{spec.worker_memory_mb}Mi" if spec.worker_memory_mb else "1Gi"
    resources: Manifest = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}
    if spec.worker_gpus:
        resources["limits"][GPU] = spec.worker_gpus
        resources["requests"][GPU] = spec.worker_gpus
    return resources


def _http_probe(path: str, failure_threshold: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": PROBE_PERIOD_S,
        "failureThreshold": failure_threshold,
    }


def _health_probe(failure_threshold: int, max_age_s: int | None = None) -> Manifest:
    command = ["python", "-m", "scaleserve.worker.health", HEALTH_FILE]
    if max_age_s is not None:
        command += ["--max-age-s", str(max_age_s)]
    return {
        "exec": {"command": command},
        "periodSeconds": PROBE_PERIOD_S,
        "failureThreshold": failure_threshold,
        "timeoutSeconds": 5,
    }
