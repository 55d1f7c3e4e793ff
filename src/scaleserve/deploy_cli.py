"""``scaleserve deploy kubernetes TARGETS --out DIR``: render a deployment's manifests;
``scaleserve deploy monitoring --out DIR``: the shipped alerting rules and dashboard."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, help="Render a deployment for a platform.")


@app.command()
def kubernetes(
    targets: Annotated[
        list[str],
        typer.Argument(help="As for 'scaleserve serve': files, modules, models:/NAME."),
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the kustomize tree into.")],
    image: Annotated[str, typer.Option(help="The image built from the Dockerfile.")] = (
        "ghcr.io/scaleserve/app:latest"
    ),
    namespace: Annotated[str, typer.Option(help="Namespace prefix (-staging, -production).")] = (
        "scaleserve"
    ),
    data_dir: Annotated[str | None, typer.Option(help="Where the registry is (embedded).")] = None,
) -> None:
    """Kustomize manifests: base, overlays per environment, KEDA autoscaling, monitoring."""
    from scaleserve.errors import ScaleserveError
    from scaleserve.scale.kubernetes.kustomize import render, write
    from scaleserve.scale.kubernetes.options import KubernetesOptions

    try:
        models = _served(targets, data_dir)
        options = KubernetesOptions(image=image, namespace=namespace)
        written = write(render(targets, models, options), out)
    except ScaleserveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {len(written)} files under {out}; apply with: "
               f"kubectl apply -k {out}/overlays/production")  # fmt: skip


@app.command()
def monitoring(
    out: Annotated[Path, typer.Option(help="Folder to write the files into.")],
) -> None:
    """The Prometheus rules (alerts, SLO burn rates) and the Grafana dashboard shipped with
    scaleserve: load rules.yml into Prometheus, import dashboard.json into Grafana."""
    from scaleserve.observe.monitoring import monitoring_files

    files = monitoring_files()
    out.mkdir(parents=True, exist_ok=True)
    for name, source in (
        ("rules.yml", files.rules),
        ("rules_test.yml", files.rules_test),
        ("dashboard.json", files.dashboard),
    ):
        (out / name).write_text(source.read_text())
    typer.echo(f"wrote rules.yml, rules_test.yml and dashboard.json under {out}")


def _served(targets: list[str], data_dir: str | None) -> list[Any]:
    from scaleserve.model.loader import load_targets
    from scaleserve.scale.kubernetes.kustomize import Served
    from scaleserve.scale.registry_serving import split_targets

    files, registry_models = split_targets(tuple(targets))
    specs = load_targets(files) if files else []
    served = [Served(spec, _one_class(spec.target, spec.model_class.__name__)) for spec in specs]
    if registry_models:
        served += asyncio.run(_registry_specs(registry_models, data_dir))
    return served


def _one_class(target: str, class_name: str) -> str:
    """The target naming one class: a model's workers run that model alone."""
    return target if ":" in target else f"{target}:{class_name}"


async def _registry_specs(models: list[str], data_dir: str | None) -> list[Any]:
    """Each registry model's production version's settings (its class, as served)."""
    import dataclasses
    import os

    from scaleserve.registry.code import version_spec
    from scaleserve.registry.opening import open_registry
    from scaleserve.scale.kubernetes.kustomize import Served
    from scaleserve.settings import registry_from_env

    where = data_dir or os.environ.get("SCALESERVE_DATA_DIR") or ".scaleserve"
    served = []
    async with open_registry(registry_from_env(), where) as opened:
        for model in models:
            version = await opened.registry.resolve(model, "production")
            code = await opened.artifacts.materialize(version.code) if version.code else None
            spec = dataclasses.replace(version_spec(version, code), lane="")
            served.append(Served(spec, f"models:/{model}", registry=True))
    return served
