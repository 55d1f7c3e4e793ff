"""The ``scaleserve`` command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from scaleserve.settings import ServeSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Serve AI models at scale.")


@app.callback()
def _root() -> None:
    """Serve AI models at scale."""


def _add_tenants() -> None:
    from scaleserve.tenants_cli import app as tenants

    app.add_typer(tenants, name="tenants")


def _add_models() -> None:
    from scaleserve.models_cli import app as models

    app.add_typer(models, name="models")


def _add_deploy() -> None:
    from scaleserve.deploy_cli import app as deploy

    app.add_typer(deploy, name="deploy")


def _add_features() -> None:
    from scaleserve.features_cli import app as features

    app.add_typer(features, name="features")


def _add_audit() -> None:
    from scaleserve.audit_cli import app as audit

    app.add_typer(audit, name="audit")


def _add_batch() -> None:
    from scaleserve.batch_cli import batch

    app.command()(batch)


_add_tenants()
_add_batch()
_add_models()
_add_deploy()
_add_features()
_add_audit()


Targets = Annotated[
    list[str],
    typer.Argument(
        help="Directories with app.py, .py files, or modules (one or more); ':Class' picks "
        "one model of a target; models:/NAME serves a registry model.",
        show_default=False,
    ),
]
Workers = Annotated[
    int | None, typer.Option(min=1, help="Worker processes per model (default: each model's own).")
]
Host = Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")]
Port = Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")]
LogLevel = Annotated[str | None, typer.Option(help="debug, info, warning or error.")]
DataDir = Annotated[
    str | None, typer.Option(help="Where the embedded service keeps jobs (default ./.scaleserve).")
]
RedisUrl = Annotated[
    str | None,
    typer.Option(help="Redis shared by all gateways and workers (redis://host:port/db)."),
]
QueueUrl = Annotated[
    str | None,
    typer.Option(
        "--queue",
        help="The queue's broker: redis://host:port/db, amqp://user:pass@host:5672/ "
        "(RabbitMQ) or nats://host:4222 (NATS JetStream); default: embedded.",
    ),
]
NoAuth = Annotated[
    bool,
    typer.Option(
        "--no-auth", help="Serve without API keys (refused unless listening on loopback)."
    ),
]
AdminPort = Annotated[
    int | None, typer.Option(help="Port of the admin listener (default: --port + 1).")
]
Durable = Annotated[
    bool | None,
    typer.Option("--durable/--no-durable", help="Refuse a Redis that may lose accepted jobs."),
]


@app.command()
def serve(
    targets: Targets,
    workers: Workers = None,
    host: Host = None,
    port: Port = None,
    log_level: LogLevel = None,
    data_dir: DataDir = None,
    redis: RedisUrl = None,
    queue: QueueUrl = None,
    durable: Durable = None,
    no_auth: NoAuth = False,
    admin_port: AdminPort = None,
) -> None:
    """Start the gateway and the worker processes of every model in TARGETS."""
    _start(
        "serve",
        targets,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        data_dir=data_dir,
        redis_url=redis,
        queue_url=queue,
        durable=durable,
        auth=False if no_auth else None,
        admin_port=admin_port,
    )


@app.command()
def api(
    targets: Targets,
    redis: RedisUrl = None,
    queue: QueueUrl = None,
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    log_level: LogLevel = None,
    durable: Durable = None,
    no_auth: NoAuth = False,
    admin_port: AdminPort = None,
) -> None:
    """Start only a gateway for the models in TARGETS: on Redis, any number of them; on
    RabbitMQ or NATS (--queue), one, keeping jobs and tenants in --data-dir."""
    _start(
        "api",
        targets,
        host=host,
        port=port,
        log_level=log_level,
        data_dir=data_dir,
        redis_url=redis,
        queue_url=queue,
        durable=durable,
        auth=False if no_auth else None,
        admin_port=admin_port,
    )


@app.command()
def worker(
    targets: Targets,
    redis: RedisUrl = None,
    queue: QueueUrl = None,
    workers: Workers = None,
    log_level: LogLevel = None,
) -> None:
    """Start only worker processes for the models in TARGETS, on Redis, RabbitMQ or NATS
    (on any machine)."""
    _start(
        "worker", targets, workers=workers, log_level=log_level, redis_url=redis, queue_url=queue
    )


def _start(mode: str, targets: list[str], **options: Any) -> None:
    # The metrics directory must be exported before anything imports prometheus_client.
    from scaleserve.scale.runtime_dir import RuntimeDir

    runtime = RuntimeDir.create()
    from scaleserve.errors import ConfigError
    from scaleserve.model.loader import load_targets
    from scaleserve.observe import log_context, tracing
    from scaleserve.observe.logs import configure_logging
    from scaleserve.pipelines.loader import load_pipelines
    from scaleserve.scale import service
    from scaleserve.scale.registry_serving import split_targets
    from scaleserve.settings import ServeSettings

    try:
        settings = ServeSettings.from_env(targets, **options)
        configure_logging(settings.log_level)
        if mode != "worker":
            log_context.set_process_fields(role="gateway")
            tracing.configure("gateway")
        _require_shared_queue_unless_serving(mode, settings)
        files, models = split_targets(settings.targets)
        specs = load_targets(files) if files else []
        if mode == "worker":
            main = service.work(settings, specs, models)
        else:
            graphs = load_pipelines(files, specs)
            main = service.serve(
                settings, specs, runtime, workers=mode == "serve", models=models, graphs=graphs
            )
        code = service.run(main, runtime)
    except ConfigError as exc:
        runtime.remove()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _require_shared_queue_unless_serving(mode: str, settings: ServeSettings) -> None:
    """A gateway and workers started apart meet on Redis, RabbitMQ or NATS."""
    from scaleserve.errors import ConfigError

    if mode != "serve" and settings.redis_url is None and settings.queue_url is None:
        raise ConfigError(
            f"'scaleserve {mode}' needs a shared queue: pass --redis redis://host:port/0 "
            "or --queue amqp://… or nats://…"
        )


def main() -> None:
    app()
