"""The registry on the admin listener: versions, aliases, rollouts and their history.

Every change is made against the state it was read from: of two concurrent changes one wins
and the other gets 409. Moving ``production`` answers once the swap has ended (the new
version warm: 200; refused because it cannot load: 409 ``deployment_refused``), or with 202
if it is still waiting after ``wait_s``. An artifact is uploaded as an archive (tar, tar.gz
or zip), streamed to disk and unpacked without links or paths leaving its folder; the API
never fetches a URL or opens a path the client names.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from scaleserve.api import problems
from scaleserve.api.protocol_route import protocol_route, validation_error
from scaleserve.errors import BodyTooLarge, RequestError, UnsupportedMedia
from scaleserve.registry import deploy
from scaleserve.registry.codec import plain, policy_from_plain
from scaleserve.registry.records import ModelState, RolloutPolicy, RolloutStep
from scaleserve.registry.registry import Registry
from scaleserve.registry.safety import extract_archive

MAX_BODY_BYTES = 64 * 1024
MAX_ARTIFACT_BYTES = 16 * 1024**3
ARCHIVE_TYPES = frozenset(
    {"application/x-tar", "application/gzip", "application/x-gzip", "application/zip",
     "application/octet-stream"}
)  # fmt: skip
DEFAULT_WAIT_S = 60.0


class AliasBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(max_length=64)


class RolloutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(max_length=64)
    policy: dict[str, Any] | None = None
    """A rollout policy (steps, gates, sticky, auto_promote); without it: ``weight`` and
    ``shadow`` make a single step held until promoted by hand."""
    weight: float = Field(default=0.0, ge=0, le=100)
    shadow: float = Field(default=0.0, ge=0, le=100)


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: dict[str, Any]


WaitS = Annotated[float, Query(ge=0, le=600)]


def build_router(registry: Registry) -> APIRouter:
    route_class = protocol_route(problems.problem_response, MAX_BODY_BYTES)
    json_routes = APIRouter(prefix="/admin/models", tags=["registry"], route_class=route_class)
    _read_routes(json_routes, registry)
    _alias_routes(json_routes, registry)
    _rollout_routes(json_routes, registry)
    uploads = APIRouter(prefix="/admin/models", tags=["registry"])  # streams its own body
    _upload_route(uploads, registry)
    router = APIRouter()
    router.include_router(json_routes)
    router.include_router(uploads)
    return router


def _read_routes(router: APIRouter, registry: Registry) -> None:
    @router.get("")
    async def list_models() -> list[dict[str, Any]]:
        """Every registered model with its serving state."""
        return [_state(await registry.state(m)) for m in await registry.models()]

    @router.get("/{name}")
    async def show_model(name: str) -> dict[str, Any]:
        versions = await registry.versions(name)
        state = await registry.state(name)
        return {**_state(state), "versions": [plain(v) for v in versions]}

    @router.get("/{name}/versions/{version}")
    async def show_version(name: str, version: str) -> Any:
        return plain(await registry.resolve(name, version))

    @router.get("/{name}/history")
    async def history(name: str, limit: int = Query(default=200, ge=1, le=10_000)) -> Any:
        """Every decision about the model, oldest first, with its reason and numbers."""
        return [plain(event) for event in await registry.history(name, limit)]


def _alias_routes(router: APIRouter, registry: Registry) -> None:
    @router.put("/{name}/aliases/{alias}")
    async def set_alias(
        name: str, alias: str, body: AliasBody, request: Request, wait_s: WaitS = DEFAULT_WAIT_S
    ) -> JSONResponse:
        """Point the alias at a version. ``production`` moves once the version is warm."""
        state = await registry.set_alias(name, alias, body.version, _actor(request))
        if state.swap is None:
            return JSONResponse(_state(state))
        return await _swap_outcome(registry, name, body.version, wait_s)

    @router.delete("/{name}/aliases/{alias}")
    async def remove_alias(name: str, alias: str, request: Request) -> dict[str, Any]:
        return _state(await registry.remove_alias(name, alias, _actor(request)))


def _rollout_routes(router: APIRouter, registry: Registry) -> None:
    @router.post("/{name}/rollout", status_code=201)
    async def start(name: str, body: RolloutBody, request: Request) -> JSONResponse:
        """Start rolling a version out (see the README's rollout policy)."""
        await registry.version(name, body.version)
        policy = _policy(body)
        state = await registry.state(name)
        now = time.time()
        change = deploy.start_rollout(state, body.version, policy, _actor(request), now)
        return JSONResponse(_state(await registry.apply(change)), 201)

    @router.put("/{name}/rollout/policy")
    async def change_policy(name: str, body: PolicyBody, request: Request) -> dict[str, Any]:
        """Replace the running rollout's policy (steps, gates, stickiness)."""
        policy = _checked_policy(body.policy)
        state = await registry.state(name)
        change = deploy.change_policy(state, policy, _actor(request), time.time())
        return _state(await registry.apply(change))

    @router.post("/{name}/rollout/{action}")
    async def act(
        name: str, action: str, request: Request, wait_s: WaitS = DEFAULT_WAIT_S
    ) -> JSONResponse:
        """``pause``, ``resume``, ``promote`` (the candidate becomes production once warm)
        or ``rollback``."""
        state, actor, now = await registry.state(name), _actor(request), time.time()
        if action in {"pause", "resume"}:
            change = deploy.set_paused(state, action == "pause", actor, now)
        elif action == "promote":
            change = deploy.promote(state, actor, now, "promoted by hand")
        elif action == "rollback":
            change = deploy.rollback(state, actor, now, "rolled back by hand")
        else:
            raise RequestError(f"{action[:40]!r} is not pause, resume, promote or rollback")
        committed = await registry.apply(change)
        if committed.swap is None:
            return JSONResponse(_state(committed))
        return await _swap_outcome(registry, name, committed.swap.to, wait_s)


def _upload_route(router: APIRouter, registry: Registry) -> None:
    @router.post("/{name}/versions", status_code=201)
    async def register(  # noqa: PLR0917 - one parameter per query option, as FastAPI reads them
        name: str,
        request: Request,
        model_class: str | None = Query(default=None, max_length=300),
        like: str | None = Query(default=None, max_length=64),
        version: str = Query(default="", max_length=64),
        allow_pickle: bool = False,
        description: str = Query(default="", max_length=2000),
    ) -> Response:
        """Register a version: the body is its artifact as a tar, tar.gz or zip archive. The
        class is an installed ``module:Class`` (``model_class``), or that of an existing
        version with its code (``like``)."""
        try:
            async with _uploaded_archive(request) as folder:
                registered = await registry.register_upload(
                    name,
                    artifact=folder,
                    model_class=model_class,
                    like=like,
                    version=version,
                    allow_pickle=allow_pickle,
                    description=description,
                    actor=_actor(request),
                )
        except RequestError as exc:
            return problems.problem_response(exc)
        return JSONResponse(plain(registered), 201)


@contextlib.asynccontextmanager
async def _uploaded_archive(request: Request) -> AsyncIterator[Path]:
    """The request's archive, streamed to a temporary file and unpacked into a folder."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in ARCHIVE_TYPES:
        raise UnsupportedMedia(media)
    scratch = Path(tempfile.mkdtemp(prefix="scaleserve-upload-"))
    try:
        archive = scratch / "artifact"
        size = 0
        with archive.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_ARTIFACT_BYTES:
                    raise BodyTooLarge(MAX_ARTIFACT_BYTES)
                out.write(chunk)
        if size == 0:
            raise RequestError("the body must be the artifact as a tar, tar.gz or zip archive")
        extract_archive(archive, scratch / "tree")
        yield scratch / "tree"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _swap_outcome(registry: Registry, name: str, to: str, wait_s: float) -> JSONResponse:
    state = await registry.wait_for_swap(name, to, wait_s)
    return JSONResponse(_state(state), 202 if state.swap is not None else 200)


def _policy(body: RolloutBody) -> RolloutPolicy:
    if body.policy is None:
        step = RolloutStep(weight=body.weight, shadow=body.shadow)
        return RolloutPolicy(steps=(step,), auto_promote=False)
    return _checked_policy(body.policy)


def _checked_policy(policy: dict[str, Any]) -> RolloutPolicy:
    try:
        return policy_from_plain(policy)
    except ValidationError as exc:
        raise validation_error(
            [{**e, "loc": ["policy", *e["loc"]]} for e in exc.errors(include_url=False)]
        ) from None


def _actor(request: Request) -> str:
    """Who made the change: the admin key's id (set by the admin listener's guard)."""
    return str(getattr(request.state, "actor", "admin"))


def _state(state: ModelState) -> dict[str, Any]:
    described: dict[str, Any] = plain(state)
    return described
