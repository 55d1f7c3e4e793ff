"""``scaleserve features load``: materialise a Parquet file into a tenant's feature view, in
the deployment's store (the embedded data directory, or Redis), with or without a running
service. The view is found by name in the target that declares it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scaleserve.errors import ConfigError, ScaleserveError

if TYPE_CHECKING:
    from scaleserve.features.views import FeatureView

app = typer.Typer(no_args_is_help=True, help="Online feature views: bulk loads.")

Target = Annotated[str, typer.Argument(help="The served file or folder declaring the view.")]
ViewName = Annotated[str, typer.Argument(help="The feature view's name.")]
ParquetFile = Annotated[Path, typer.Argument(help="The Parquet file to load.", exists=True)]
Tenant = Annotated[str, typer.Option(help="The tenant whose features these are.")]
TimeColumn = Annotated[str, typer.Option(help="The event time column.")]
DataDir = Annotated[
    str, typer.Option(help="The embedded service's data directory.", envvar="SCALESERVE_DATA_DIR")
]
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis", help="The deployment's Redis (instead of --data-dir).",
        envvar="SCALESERVE_REDIS_URL",
    ),
]  # fmt: skip
RedisPrefix = Annotated[
    str,
    typer.Option(help="Prefix of the deployment's Redis keys.", envvar="SCALESERVE_REDIS_PREFIX"),
]


@dataclass(frozen=True)
class _Where:
    data_dir: str
    redis_url: str | None
    redis_prefix: str


@app.command()
def load(
    target: Target,
    view: ViewName,
    parquet: ParquetFile,
    *,
    tenant: Tenant,
    time_column: TimeColumn = "event_ts",
    data_dir: DataDir = ".scaleserve",
    redis: RedisUrl = None,
    redis_prefix: RedisPrefix = "scaleserve",
) -> None:
    """Load PARQUET (a column for the entity key, one for the event time, one per feature)
    into VIEW for TENANT; the latest event per entity and feature wins."""
    from scaleserve.model.loader import import_target

    where = _Where(data_dir, redis, redis_prefix)
    try:
        found = find_view(vars(import_target(target)).values(), view)
        loaded = asyncio.run(_load(found, parquet, tenant, time_column, where))
    except ScaleserveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(loaded, indent=2))


def find_view(objects: Iterable[Any], name: str) -> FeatureView:
    """The feature view called ``name`` among a module's objects and its models' needs."""
    from scaleserve.features.views import FeatureView

    found: dict[str, FeatureView] = {}
    for obj in objects:
        if isinstance(obj, FeatureView):
            found[obj.name] = obj
        for need in getattr(obj, "features", ()) if isinstance(obj, type) else ():
            found[need.view.name] = need.view
    if name not in found:
        raise ConfigError(f"the target declares no feature view {name!r} (it has {sorted(found)})")
    return found[name]


async def _load(
    view: FeatureView, parquet: Path, tenant: str, time_column: str, where: _Where
) -> dict[str, Any]:
    from scaleserve.features.materialize import materialize_parquet
    from scaleserve.scale.composition import feature_store_at

    async with feature_store_at(where.data_dir, where.redis_url, where.redis_prefix) as store:
        done = await materialize_parquet(store, tenant, view, parquet, time_column=time_column)
    return {"view": view.name, "tenant": tenant, "rows": done.rows, "features": list(done.features)}
