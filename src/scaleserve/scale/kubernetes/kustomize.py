"""A deployment as a kustomize tree: ``base/`` with every object, ``overlays/<env>/`` per
environment (its namespace, image tag and sizes), and ``alternatives/`` holding the
Prometheus-trigger ScaledObjects to use instead of the Redis-stream ones.

Kustomize rather than Helm: the output is plain Kubernetes YAML that can be read,
reviewed, diffed and validated as it is, and ``kubectl apply -k overlays/production``
needs nothing beyond kubectl; environments differ by small patches, not by templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scaleserve.model.spec import ModelSpec
from scaleserve.scale.kubernetes import manifests
from scaleserve.scale.kubernetes.options import KubernetesOptions

Tree = dict[str, Any]
"""Relative path -> the object (or kustomization) written there."""
ENVIRONMENT_SIZES = {"staging": 1, "production": 3}


@dataclass(frozen=True)
class Served:
    """A model to deploy: its spec and the ``scaleserve`` target its workers run."""

    spec: ModelSpec
    target: str
    registry: bool = False


def render(targets: Sequence[str], models: Sequence[Served], options: KubernetesOptions) -> Tree:
    """The tree for a gateway serving ``targets`` and a worker Deployment per model."""
    base: Tree = {
        "configmap.yaml": manifests.config_map(options),
        "keda-trigger-authentication.yaml": manifests.trigger_authentication(),
        "servicemonitor.yaml": manifests.service_monitor(),
    }
    for obj in manifests.gateway(list(targets), options):
        base[f"gateway-{obj['kind'].lower()}.yaml"] = obj
    alternatives: Tree = {}
    for model in models:
        name = manifests.worker_name(model.spec.name)
        base[f"{name}.yaml"] = manifests.worker(model.spec, model.target, options)
        if model.spec.autoscale is None:
            continue
        # a registry model's versions have queues of their own: it scales on the metric
        on_prometheus = manifests.scaled_object(model.spec, options, prometheus=True)
        if model.registry:
            base[f"{name}-scaledobject.yaml"] = on_prometheus
        else:
            scaled = manifests.scaled_object(model.spec, options, prometheus=False)
            base[f"{name}-scaledobject.yaml"] = scaled
            alternatives[f"{name}-scaledobject-prometheus.yaml"] = on_prometheus
    tree: Tree = {f"base/{path}": obj for path, obj in base.items()}
    tree["base/kustomization.yaml"] = _kustomization(sorted(base))
    tree.update({f"alternatives/{path}": obj for path, obj in alternatives.items()})
    for env in options.environments:
        tree[f"overlays/{env}/kustomization.yaml"] = _overlay(env, options)
    return tree


def write(tree: Tree, out: Path) -> list[Path]:
    written = []
    for relative, obj in sorted(tree.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump(obj, Dumper=_PlainDumper, sort_keys=False, width=100))
        written.append(path)
    return written


class _PlainDumper(yaml.SafeDumper):  # type: ignore[misc]  # yaml has no stubs here
    """Writes a shared object (a Deployment's selector and its pods' labels) out in full
    each time, not as a YAML anchor and alias: plain YAML that a reviewer reads at once."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _kustomization(resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


def _overlay(env: str, options: KubernetesOptions) -> dict[str, Any]:
    repository, _, tag = options.image.rpartition(":")
    if not repository or "/" in tag:
        repository, tag = options.image, "latest"
    size = ENVIRONMENT_SIZES.get(env, options.gateway_replicas)
    return {
        **_kustomization(["../../base"]),
        "namespace": f"{options.namespace}-{env}",
        "labels": [{"pairs": {"scaleserve.io/environment": env}}],
        "images": [{"name": repository, "newTag": tag}],
        "patches": [
            _replace("Deployment", "gateway", "/spec/replicas", size),
            _replace("HorizontalPodAutoscaler", "gateway", "/spec/minReplicas", size),
        ],
    }


def _replace(kind: str, name: str, path: str, value: Any) -> dict[str, Any]:
    operation = [{"op": "replace", "path": path, "value": value}]
    return {"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump(operation)}
