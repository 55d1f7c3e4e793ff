"""The ``scaleserve`` command."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Serve AI models at scale.")


@app.callback()
def _root() -> None:
    """Serve AI models at scale."""


@app.command()
def serve(
    target: Annotated[
        str,
        typer.Argument(
            help="Directory with app.py, a .py file, or a module; ':Class' picks one model."
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes per model (default: each model's own)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error.")] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(help="Where jobs are kept across restarts (default ./.scaleserve)."),
    ] = None,
    redis: Annotated[
        str | None,
        typer.Option(help="Redis URL shared by all gateways and workers (redis://host:port/db)."),
    ] = None,
) -> None:
    """Start the gateway and the worker processes of every model in TARGET."""
    # The metrics directory must be exported before anything imports prometheus_client.
    from scaleserve.scale.runtime_dir import RuntimeDir

    runtime = RuntimeDir.create()
    from scaleserve.errors import ConfigError
    from scaleserve.model.loader import load_specs
    from scaleserve.observe.logs import configure_logging
    from scaleserve.scale import service
    from scaleserve.settings import ServeSettings

    try:
        settings = ServeSettings.from_env(
            target,
            workers=workers,
            host=host,
            port=port,
            log_level=log_level,
        )
        configure_logging(settings.log_level)
        specs = load_specs(settings.target)
    except ConfigError as exc:
        runtime.remove()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(service.run(settings, specs, runtime))


def main() -> None:
    app()
