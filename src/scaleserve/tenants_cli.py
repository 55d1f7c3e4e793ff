"""``scaleserve tenants ...``: administer tenants, keys, limits and usage straight in the
deployment's store (the embedded data directory, or Redis), with or without a running
service. Gateways see the changes within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from scaleserve.cli_options import StoreOptions, keyword_options, with_options
from scaleserve.tenancy.records import Limits

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, help="Tenants, their API keys, limits and usage.")

DataDir = Annotated[
    str, typer.Option(help="The embedded service's data directory.", envvar="SCALESERVE_DATA_DIR")
]
RedisUrl = Annotated[
    str | None,
    typer.Option("--redis", help="The deployment's Redis (instead of --data-dir).",
                 envvar="SCALESERVE_REDIS_URL"),
]  # fmt: skip
RedisPrefix = Annotated[
    str,
    typer.Option(help="Prefix of the deployment's Redis keys.", envvar="SCALESERVE_REDIS_PREFIX"),
]
Rate = Annotated[float | None, typer.Option(min=0.001)]
Count = Annotated[int | None, typer.Option(min=0)]
_LIMIT_OPTIONS = keyword_options(
    [
        ("requests_per_s", Rate),
        ("requests_burst", Count),
        ("items_per_s", Rate),
        ("items_burst", Count),
        ("daily_requests", Count),
        ("daily_items", Count),
        ("max_concurrent", Count),
    ]
)


_where = StoreOptions(
    [
        ("data_dir", "The embedded service's data directory."),
        ("redis", "The deployment's Redis (instead of --data-dir)."),
        ("redis_prefix", "Prefix of the deployment's Redis keys."),
    ]
)
_store_options = _where.command


@app.callback()
def _options(
    data_dir: DataDir = ".scaleserve",
    redis: RedisUrl = None,
    redis_prefix: RedisPrefix = "scaleserve",
) -> None:
    _where.group(data_dir=data_dir, redis=redis, redis_prefix=redis_prefix)


def _take_limits(values: dict[str, Any]) -> dict[str, Any]:
    return {"limits": Limits(**values)}


_limit_options = with_options(_LIMIT_OPTIONS, _take_limits)
"""Give a command one option per limit (``--requests-per-s`` …); it is called with them as
one ``limits`` argument, where an option left out is ``None`` (unlimited)."""


@app.command()
@_store_options
@_limit_options
def create(name: str, *, limits: Limits) -> None:
    """Create a tenant and print its first API key (shown once)."""
    from scaleserve.tenancy import admin

    async def run(store: Any, hasher: Any) -> Any:
        tenant, new = await admin.create_tenant(store, hasher, name, limits, time.time())
        return {"tenant": tenant.name, "key_id": new.record.id, "key": new.key}

    _print(_run(run))


@app.command("list")
@_store_options
def list_tenants() -> None:
    """Every tenant with its limits."""

    async def run(store: Any, hasher: Any) -> Any:
        return [dataclasses.asdict(t) for t in await store.list_tenants()]

    _print(_run(run))


@app.command()
@_store_options
def show(name: str) -> None:
    """One tenant with its keys (their ids, never the keys)."""
    from scaleserve.errors import UnknownTenant

    async def run(store: Any, hasher: Any) -> Any:
        tenant = await store.get_tenant(name)
        if tenant is None:
            raise UnknownTenant(name)
        keys = [dataclasses.asdict(k) for k in await store.list_keys(name)]
        return {**dataclasses.asdict(tenant), "keys": keys}

    _print(_run(run))


@app.command("limits")
@_store_options
@_limit_options
def set_limits(name: str, *, limits: Limits) -> None:
    """Replace a tenant's limits (options left out become unlimited)."""

    async def run(store: Any, hasher: Any) -> Any:
        return dataclasses.asdict(await store.set_limits(name, limits))

    _print(_run(run))


@app.command()
@_store_options
def revoke(name: str) -> None:
    """Revoke a tenant and every key it has."""

    async def run(store: Any, hasher: Any) -> Any:
        return dataclasses.asdict(await store.revoke_tenant(name, time.time()))

    _print(_run(run))


@app.command()
@_store_options
def key(name: str, label: str = "") -> None:
    """Issue another API key for a tenant and print it (shown once)."""
    from scaleserve.tenancy.store import issue_key

    async def run(store: Any, hasher: Any) -> Any:
        record, plaintext = await issue_key(store, hasher, name, label, time.time())
        return {"tenant": name, "key_id": record.id, "key": plaintext}

    _print(_run(run))


@app.command("revoke-key")
@_store_options
def revoke_key(key_id: str) -> None:
    """Revoke one API key by its id."""

    async def run(store: Any, hasher: Any) -> Any:
        return dataclasses.asdict(await store.revoke_key(key_id, time.time()))

    _print(_run(run))


@app.command("admin-key")
@_store_options
def admin_key(label: str = "") -> None:
    """Issue a key for the admin listener and print it (shown once)."""
    from scaleserve.tenancy import admin

    async def run(store: Any, hasher: Any) -> Any:
        new = await admin.new_admin_key(store, hasher, label, time.time())
        return {"key_id": new.record.id, "key": new.key}

    _print(_run(run))


@app.command()
@_store_options
def usage(tenant: str | None = None, since: str | None = None, until: str | None = None) -> None:
    """Usage per tenant and model (summed over the days asked for)."""
    from scaleserve.tenancy.usage import check_day, summarize

    async def run(store: Any, hasher: Any) -> Any:
        rows = await store.query(tenant, check_day(since), check_day(until))
        return [dataclasses.asdict(row) for row in summarize(rows)]

    _print(_run(run))


def _run(action: Callable[[Any, Any], Awaitable[T]]) -> T:
    from scaleserve.errors import ScaleserveError

    async def main() -> T:
        async with _store() as (store, hasher):
            return await action(store, hasher)

    if _where.given["redis"] is None:
        Path(_where.given["data_dir"]).mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(main())
    except ScaleserveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@contextlib.asynccontextmanager
async def _store() -> AsyncIterator[tuple[Any, Any]]:
    from scaleserve.tenancy.keys import KeyHasher

    store: Any
    if _where.given["redis"] is not None:
        from scaleserve.queue.backends.redis_connection import connect
        from scaleserve.redis_keys import RedisKeys
        from scaleserve.tenancy.backends.redis import RedisTenancyStore

        redis = connect(_where.given["redis"])
        store = RedisTenancyStore(redis, RedisKeys(_where.given["redis_prefix"]))
    else:
        from scaleserve.scale.parts import TENANTS_DB_FILE
        from scaleserve.tenancy.backends.sqlite import SqliteTenancyStore

        redis = None
        store = SqliteTenancyStore(Path(_where.given["data_dir"]) / TENANTS_DB_FILE)
    await store.open()
    try:
        pepper = os.environ.get("SCALESERVE_KEY_PEPPER")
        yield store, KeyHasher(pepper.encode() if pepper else await store.pepper())
    finally:
        await store.close()
        if redis is not None:
            await redis.aclose()


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))
