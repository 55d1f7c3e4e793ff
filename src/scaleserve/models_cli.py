"""``scaleserve models ...``: the model registry from the command line, straight on the
deployment's registry (the embedded data directory, or ``SCALESERVE_REGISTRY_URL`` and
``SCALESERVE_ARTIFACTS_URL``), with or without a running service; running services follow
every change within a second."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from scaleserve.cli_options import StoreOptions

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, help="Model versions, aliases, rollouts and history.")


_store = StoreOptions(
    [
        ("data_dir", "The embedded service's data directory (default ./.scaleserve)."),
        ("registry", "Registry metadata: postgresql://… or a SQLite file."),
        ("artifacts", "Artifacts: a folder or s3://bucket/prefix."),
    ]
)
_store_options = _store.command


@app.callback()
def _options(
    data_dir: Annotated[str | None, typer.Option(help="The embedded data directory.")] = None,
    registry: Annotated[str | None, typer.Option(help="postgresql://… or a SQLite file.")] = None,
    artifacts: Annotated[str | None, typer.Option(help="A folder or s3://bucket/prefix.")] = None,
) -> None:
    _store.group(data_dir=data_dir, registry=registry, artifacts=artifacts)


Wait = Annotated[
    float, typer.Option(help="Seconds to wait for a swap to finish (0: do not wait).", min=0)
]


@app.command()
@_store_options
def register(  # noqa: PLR0917 - a typer command takes one parameter per option
    name: str,
    model_class: Annotated[
        str, typer.Option("--class", help="path/app.py:Class, path/dir:Class or module:Class.")
    ],
    artifact: Annotated[Path | None, typer.Option(help="The artifact: a file or a folder.")] = None,
    version: Annotated[
        str, typer.Option(help="The version's name (default: the next number).")
    ] = "",
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="KEY=NUMBER, repeatable.")] = None,
    allow_pickle: Annotated[
        bool, typer.Option("--allow-pickle", help="Allow pickle-based files (they run code).")
    ] = False,
    description: str = "",
) -> None:
    """Register a new immutable version (the model's first becomes its production)."""

    async def run(registry: Any) -> Any:
        registered = await registry.register(
            name,
            model_class=model_class,
            artifact=artifact,
            version=version,
            actor=_actor(),
            tags=_pairs(tag, str),
            metrics=_pairs(metric, float),
            allow_pickle=allow_pickle,
            description=description,
        )
        return _plain(registered)

    _print(_run(run))


@app.command("list")
@_store_options
def list_models() -> None:
    """Every registered model with its aliases and rollout."""

    async def run(registry: Any) -> Any:
        return [_plain(await registry.state(m)) for m in await registry.models()]

    _print(_run(run))


@app.command()
@_store_options
def show(name: str, version: Annotated[str | None, typer.Argument()] = None) -> None:
    """A model's versions and state, or one version (a version or an alias)."""

    async def run(registry: Any) -> Any:
        if version is not None:
            return _plain(await registry.resolve(name, version))
        versions = [_plain(v) for v in await registry.versions(name)]
        return {**_plain(await registry.state(name)), "versions": versions}

    _print(_run(run))


@app.command()
@_store_options
def alias(name: str, alias: str, version: str, wait: Wait = 60.0) -> None:
    """Point an alias at a version. Moving production is a zero-downtime swap: it completes
    once a running service has the version warm (refused if it cannot load)."""

    async def run(registry: Any) -> Any:
        state = await registry.set_alias(name, alias, version, _actor())
        if state.swap is not None and wait > 0:
            state = await registry.wait_for_swap(name, version, wait)
        return _plain(state)

    _print(_run(run))


@app.command()
@_store_options
def unalias(name: str, alias: str) -> None:
    """Remove an alias (not production or canary)."""

    async def run(registry: Any) -> Any:
        return _plain(await registry.remove_alias(name, alias, _actor()))

    _print(_run(run))


@app.command()
@_store_options
def deploy(  # noqa: PLR0917 - a typer command takes one parameter per option
    name: str,
    version: str,
    policy: Annotated[Path | None, typer.Option(help="A rollout policy (JSON file).")] = None,
    steps: Annotated[
        str | None,
        typer.Option(help="Steps, e.g. 'shadow,5,25,50,100' (shadow:N mirrors N%; N: weight)."),
    ] = None,
    hold_requests: Annotated[int, typer.Option(min=0, help="Requests per step.")] = 100,
    hold_s: Annotated[float, typer.Option(min=0, help="Seconds per step at least.")] = 0.0,
    sticky: Annotated[str, typer.Option(help="tenant, header:<name> or none.")] = "none",
    manual: Annotated[
        bool, typer.Option("--manual", help="Hold the last step until promoted by hand.")
    ] = False,
) -> None:
    """Roll a version out: its share grows step by step while it stays within the gates of
    the production version (error rate, p95, shadow agreement), else it is rolled back."""
    from scaleserve.registry import deploy as transitions

    hold = {"min_requests": hold_requests, "min_duration_s": hold_s}
    chosen = _policy(policy, steps, hold, sticky=sticky, manual=manual)

    async def run(registry: Any) -> Any:
        await registry.version(name, version)
        state = await registry.state(name)
        change = transitions.start_rollout(state, version, chosen, _actor(), _now())
        return _plain(await registry.apply(change))

    _print(_run(run))


@app.command()
@_store_options
def rollout(
    name: str,
    action: Annotated[str, typer.Argument(help="status, pause, resume or policy.")] = "status",
    policy: Annotated[Path | None, typer.Option(help="With 'policy': the new policy.")] = None,
) -> None:
    """A rollout's state; pause or resume it; or replace its policy."""
    from scaleserve.registry import deploy as transitions

    if action not in {"status", "pause", "resume", "policy"}:
        raise typer.BadParameter("status, pause, resume or policy", param_hint="ACTION")
    chosen = _policy(policy, None, {}, sticky="none", manual=False) if action == "policy" else None
    if action == "policy" and policy is None:
        raise typer.BadParameter("give the new policy with --policy FILE", param_hint="--policy")

    async def run(registry: Any) -> Any:
        state = await registry.state(name)
        if chosen is not None:
            state = await registry.apply(transitions.change_policy(state, chosen, _actor(), _now()))
        elif action != "status":
            change = transitions.set_paused(state, action == "pause", _actor(), _now())
            state = await registry.apply(change)
        return _plain(state)

    _print(_run(run))


@app.command()
@_store_options
def promote(name: str, wait: Wait = 60.0) -> None:
    """Make the rollout's candidate production now (a zero-downtime swap)."""
    from scaleserve.registry import deploy as transitions

    async def run(registry: Any) -> Any:
        state = await registry.state(name)
        committed = await registry.apply(
            transitions.promote(state, _actor(), _now(), "promoted by hand")
        )
        if committed.swap is not None and wait > 0:
            committed = await registry.wait_for_swap(name, committed.swap.to, wait)
        return _plain(committed)

    _print(_run(run))


@app.command()
@_store_options
def rollback(name: str) -> None:
    """Stop the rollout: every request goes to production again."""
    from scaleserve.registry import deploy as transitions

    async def run(registry: Any) -> Any:
        state = await registry.state(name)
        return _plain(
            await registry.apply(
                transitions.rollback(state, _actor(), _now(), "rolled back by hand")
            )
        )

    _print(_run(run))


@app.command()
@_store_options
def history(name: str, limit: Annotated[int, typer.Option(min=1)] = 200) -> None:
    """Every decision about the model, oldest first, with its reason and the numbers."""

    async def run(registry: Any) -> Any:
        return [_plain(event) for event in await registry.history(name, limit)]

    _print(_run(run))


@app.command("import")
@_store_options
def import_model(
    source: Annotated[str, typer.Argument(help="mlflow")],
    uri: Annotated[str, typer.Argument(help="models:/NAME/VERSION or models:/NAME@ALIAS")],
    tracking_uri: Annotated[
        str | None, typer.Option(help="The MLflow tracking server (else MLFLOW_TRACKING_URI).")
    ] = None,
    name: Annotated[str | None, typer.Option("--as", help="The model's name here.")] = None,
    allow_pickle: Annotated[
        bool, typer.Option("--allow-pickle", help="Allow pickle-based flavors (they run code).")
    ] = False,
) -> None:
    """Copy a version of another registry (MLflow) into this one, with its signature."""
    if source != "mlflow":
        raise typer.BadParameter("only 'mlflow' can be imported from", param_hint="SOURCE")
    from scaleserve.registry.mlflow_import import import_mlflow

    async def run(registry: Any) -> Any:
        imported = await import_mlflow(
            registry,
            uri,
            tracking_uri=tracking_uri,
            name=name,
            allow_pickle=allow_pickle,
            actor=_actor(),
        )
        return _plain(imported)

    _print(_run(run))


def _policy(
    path: Path | None, steps: str | None, hold: dict[str, Any], *, sticky: str, manual: bool
) -> Any:
    from pydantic import ValidationError

    from scaleserve.registry.codec import policy_from_plain

    if path is not None:
        try:
            return policy_from_plain(json.loads(path.read_text()))
        except (OSError, ValueError, ValidationError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--policy") from None
    parsed: list[dict[str, Any]] = []
    for raw in (steps or "shadow,10,50,100").split(","):
        word = raw.strip()
        try:
            if word.startswith("shadow"):
                parsed.append({"shadow": float(word.partition(":")[2] or 100), **hold})
            else:
                parsed.append({"weight": float(word), **hold})
        except ValueError:
            why = f"{word!r} is not shadow[:N] or a weight"
            raise typer.BadParameter(why, param_hint="--steps") from None
    try:
        return policy_from_plain({"steps": parsed, "sticky": sticky, "auto_promote": not manual})
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--steps/--sticky") from None


def _run(action: Callable[[Any], Awaitable[T]]) -> T:
    from scaleserve.errors import ScaleserveError
    from scaleserve.registry.opening import open_registry
    from scaleserve.settings import registry_from_env

    settings = registry_from_env()
    where = _store.given
    if where["registry"] is not None:
        settings = dataclasses.replace(settings, url=where["registry"])
    if where["artifacts"] is not None:
        settings = dataclasses.replace(settings, artifacts_url=where["artifacts"])
    data_dir = where["data_dir"] or _env_data_dir()

    async def main() -> T:
        async with open_registry(settings, data_dir) as opened:
            return await action(opened.registry)

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(main())
    except ScaleserveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _env_data_dir() -> str:
    import os

    return os.environ.get("SCALESERVE_DATA_DIR") or ".scaleserve"


def _pairs(raw: list[str] | None, cast: Callable[[str], Any]) -> dict[str, Any]:
    pairs = {}
    for item in raw or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE")
        try:
            pairs[key] = cast(value)
        except ValueError:
            raise typer.BadParameter(f"{item!r}: {value!r} is not a number") from None
    return pairs


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _now() -> float:
    import time

    return time.time()


def _plain(record: Any) -> Any:
    from scaleserve.registry.codec import plain

    return plain(record)


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))
