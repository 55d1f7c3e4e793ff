"""``scaleserve audit``: read the audit log straight from its store (the data directory's
SQLite file, or PostgreSQL with ``--audit-url``), with or without a running service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from scaleserve.audit.settings import AuditSettings
from scaleserve.errors import ScaleserveError

if TYPE_CHECKING:
    from scaleserve.audit.store import AuditStore

_T = TypeVar("_T")

app = typer.Typer(no_args_is_help=True, help="The prediction audit log: query and export.")

ModelName = Annotated[str, typer.Option(help="The model whose records to read.")]
Since = Annotated[str, typer.Option(help="From this time: unix seconds or ISO 8601 (UTC).")]
Until = Annotated[str | None, typer.Option(help="Until this time (default: now).")]
TenantName = Annotated[str | None, typer.Option(help="Only this tenant's records.")]
DataDir = Annotated[
    str, typer.Option(help="The embedded service's data directory.", envvar="SCALESERVE_DATA_DIR")
]
AuditSchema = Annotated[
    str,
    typer.Option(help="The audit table's PostgreSQL schema.", envvar="SCALESERVE_AUDIT_SCHEMA"),
]
AuditUrl = Annotated[
    str | None,
    typer.Option(help="The audit log's PostgreSQL URL (instead of --data-dir).",
                 envvar="SCALESERVE_AUDIT_URL"),
]  # fmt: skip
PAGE = 1000


@dataclass(frozen=True)
class _Where:
    model: str
    since: float
    until: float
    tenant: str | None


@app.command()
def query(
    *,
    model: ModelName,
    since: Since,
    until: Until = None,
    tenant: TenantName = None,
    limit: Annotated[int, typer.Option(min=1, help="Most records printed.")] = 1000,
    data_dir: DataDir = ".scaleserve",
    audit_url: AuditUrl = None,
    audit_schema: AuditSchema = "scaleserve",
) -> None:
    """Print a model's records since a time, oldest first, one JSON object per line."""
    where = _where(model, since, until, tenant)
    settings = AuditSettings(url=audit_url, schema=audit_schema)
    records = _run(_query(where, limit, data_dir, settings))
    for record in records:
        typer.echo(json.dumps(record))


@app.command()
def export(
    *,
    model: ModelName,
    since: Since,
    output: Annotated[Path, typer.Option(help="The Parquet file to write.")],
    until: Until = None,
    tenant: TenantName = None,
    data_dir: DataDir = ".scaleserve",
    audit_url: AuditUrl = None,
    audit_schema: AuditSchema = "scaleserve",
) -> None:
    """Write a model's records since a time to a Parquet file, a page at a time."""
    where = _where(model, since, until, tenant)
    settings = AuditSettings(url=audit_url, schema=audit_schema)
    rows = _run(_export(where, output, data_dir, settings))
    typer.echo(json.dumps({"rows": rows, "output": str(output)}))


def _run(work: Coroutine[Any, Any, _T]) -> _T:
    """``work``'s result; a scaleserve error is printed and exits 2."""
    try:
        return asyncio.run(work)
    except ScaleserveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@contextlib.asynccontextmanager
async def _opened(settings: AuditSettings, data_dir: str) -> AsyncIterator[AuditStore]:
    from scaleserve.scale.composition import open_audit_store

    store = open_audit_store(settings, data_dir)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _where(model: str, since: str, until: str | None, tenant: str | None) -> _Where:
    from scaleserve.api.audit_routes import parse_time

    try:
        end = parse_time(until, "until") if until else time.time()
        return _Where(model, parse_time(since, "since"), end, tenant)
    except ScaleserveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


async def _query(
    where: _Where, limit: int, data_dir: str, settings: AuditSettings
) -> list[dict[str, Any]]:
    async with _opened(settings, data_dir) as store:
        found: list[dict[str, Any]] = []
        after = None
        while len(found) < limit:
            page = await store.query(
                model=where.model, since=where.since, until=where.until, tenant=where.tenant,
                limit=min(PAGE, limit - len(found)), after=after,
            )  # fmt: skip
            found.extend(asdict(r) for r in page)
            if len(page) < min(PAGE, limit - len(found) + len(page)):
                break
            after = (page[-1].ts, page[-1].request_id)
        return found


async def _export(where: _Where, output: Path, data_dir: str, settings: AuditSettings) -> int:
    from scaleserve.audit.export import export_parquet

    async with _opened(settings, data_dir) as store:
        return await export_parquet(
            store, output, model=where.model, since=where.since, until=where.until,
            tenant=where.tenant,
        )  # fmt: skip
