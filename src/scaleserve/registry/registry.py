"""The registry as the admin API and the CLI use it: register versions, read them, name them.

Serving changes (swaps, rollouts) are ``scaleserve.registry.deploy`` transitions, committed
here against the state they were computed from: a concurrent change makes them ``Conflict``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scaleserve.errors import DeploymentRefused, RequestError, UnknownAlias, UnknownModel
from scaleserve.model.loader import load_specs
from scaleserve.registry import deploy
from scaleserve.registry.artifacts import BlobStore, store_files
from scaleserve.registry.code import code_files, code_source, split_class_ref
from scaleserve.registry.records import (
    CANDIDATE,
    STABLE,
    TAG_KEY_PATTERN,
    ArtifactFile,
    Event,
    ModelState,
    ModelVersion,
    check_alias,
    check_model_name,
    check_version,
)
from scaleserve.registry.safety import check_pickle_policy, regular_files
from scaleserve.registry.store import RegistryStore

MAX_TAGS = 64
SWAP_POLL_S = 0.1
MODULE_CLASS_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
MAX_TAG_VALUE = 256


class Registry:
    """Versions, aliases and serving state of every registered model."""

    def __init__(
        self, store: RegistryStore, blobs: BlobStore, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.blobs = blobs
        self._clock = clock

    async def register(
        self,
        model: str,
        *,
        model_class: str,
        artifact: Path | None = None,
        version: str = "",
        actor: str = "cli",
        tags: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        allow_pickle: bool = False,
        description: str = "",
        flavor: str = "scaleserve",
        signature: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Store ``artifact`` and record a new immutable version of ``model`` loaded by
        ``model_class``. The model's first version becomes its ``production``."""
        check_model_name(model)
        if version:
            check_version(version)
        files = await self._store_artifact(artifact, allow_pickle)
        code = await self._store_code(model_class) if flavor == "scaleserve" else ()
        registered = await self.store.add_version(
            ModelVersion(
                model=model,
                version=version,
                model_class=_recorded_class(model_class) if flavor == "scaleserve" else model_class,
                files=files,
                code=code,
                created_at=self._clock(),
                registered_by=actor,
                tags=_checked_tags(tags or {}),
                metrics={str(k): float(v) for k, v in (metrics or {}).items()},
                allow_pickle=allow_pickle,
                flavor=flavor,
                signature=signature,
                description=description[:2000],
            )
        )
        await self._first_is_production(registered, actor)
        return registered

    async def register_upload(
        self,
        model: str,
        *,
        artifact: Path,
        model_class: str | None,
        like: str | None,
        version: str = "",
        allow_pickle: bool = False,
        description: str = "",
        actor: str,
    ) -> ModelVersion:
        """Register an uploaded artifact (the admin API): its class is an installed
        ``module:Class``, or that of the version ``like`` with its code. Never a path."""
        if (model_class is None) == (like is None):
            raise RequestError("name the class: model_class=module:Class, or like=<a version>")
        if like is not None:
            template = await self.resolve(model, like)
            files = await self._store_artifact(artifact, allow_pickle)
            registered = await self.store.add_version(
                dataclasses.replace(
                    template,
                    version=check_version(version) if version else "",
                    files=files,
                    created_at=self._clock(),
                    registered_by=actor,
                    tags={},
                    metrics={},
                    allow_pickle=allow_pickle,
                    description=description[:2000],
                )
            )
            await self._first_is_production(registered, actor)
            return registered
        if model_class is None or not MODULE_CLASS_PATTERN.fullmatch(model_class):
            raise RequestError(f"model_class {str(model_class)[:80]!r} must be module:Class")
        return await self.register(
            model,
            model_class=model_class,
            artifact=artifact,
            version=version,
            actor=actor,
            allow_pickle=allow_pickle,
            description=description,
        )

    async def wait_for_swap(self, model: str, to: str, timeout_s: float) -> ModelState:
        """The state once the swap to ``to`` has ended (or after ``timeout_s``, still
        swapping); ``DeploymentRefused`` with the reason if it was refused."""
        deadline = self._clock() + timeout_s
        while True:
            state = await self.store.state(model)
            if state.swap is None or state.swap.to != to:
                break
            if self._clock() >= deadline:
                return state
            await asyncio.sleep(SWAP_POLL_S)
        if state.stable == to:
            return state
        refusals = [e for e in await self.store.history(model, 20) if e.action == "swap-refused"]
        reason = refusals[-1].reason if refusals else f"version {to} did not become production"
        raise DeploymentRefused(reason)

    async def models(self) -> list[str]:
        return await self.store.list_models()

    async def versions(self, model: str) -> list[ModelVersion]:
        versions = await self.store.list_versions(check_model_name(model))
        if not versions:
            raise UnknownModel(model)
        return versions

    async def version(self, model: str, version: str) -> ModelVersion:
        return await self.store.get_version(check_model_name(model), check_version(version))

    async def resolve(self, model: str, ref: str) -> ModelVersion:
        """The version ``ref`` names: one of the model's aliases, else a version."""
        state = await self.state(model)
        return await self.version(model, state.aliases.get(ref, ref))

    async def state(self, model: str) -> ModelState:
        await self.versions(model)  # UnknownModel before anything else
        return await self.store.state(model)

    async def history(self, model: str, limit: int = 200) -> list[Event]:
        await self.versions(model)
        return await self.store.history(model, limit)

    async def set_alias(self, model: str, alias: str, version: str, actor: str) -> ModelState:
        """Point ``alias`` at ``version``. Moving ``production`` is a swap: it completes once
        the version is warm (``scaleserve.registry.deploy``)."""
        check_alias(alias)
        await self.version(model, version)
        state = await self.state(model)
        if alias == CANDIDATE:
            raise RequestError(
                "'canary' names a rollout's candidate: start one with `scaleserve models deploy`"
            )
        now = self._clock()
        if alias == STABLE:
            return await self.apply(deploy.request_swap(state, version, actor, now, "alias moved"))
        event = Event(model, now, "alias", actor, f"{alias} -> {version}", {"alias": alias})
        aliases = {**state.aliases, alias: version}
        return await self.apply((_with_aliases(state, aliases), [event]))

    async def remove_alias(self, model: str, alias: str, actor: str) -> ModelState:
        check_alias(alias)
        state = await self.state(model)
        if alias in {STABLE, CANDIDATE}:
            raise RequestError(f"{alias!r} is managed by swaps and rollouts; it cannot be removed")
        if alias not in state.aliases:
            raise UnknownAlias(model, alias)
        event = Event(model, self._clock(), "alias-removed", actor, f"{alias} removed")
        aliases = {k: v for k, v in state.aliases.items() if k != alias}
        return await self.apply((_with_aliases(state, aliases), [event]))

    async def apply(self, change: deploy.Change) -> ModelState:
        """Commit a transition computed from a state; ``Conflict`` if it changed meanwhile."""
        state, events = change
        return await self.store.commit(state, events)

    async def _store_artifact(
        self, artifact: Path | None, allow_pickle: bool
    ) -> tuple[ArtifactFile, ...]:
        if artifact is None:
            return ()
        check_pickle_policy(regular_files(artifact), allow_pickle)
        return await store_files(self.blobs, artifact)

    async def _store_code(self, model_class: str) -> tuple[ArtifactFile, ...]:
        source = code_source(model_class)
        load_specs(model_class)  # the class must load now, not when it is first served
        if source is None:
            return ()
        folder, _ = source
        manifest = []
        for name, path in code_files(folder):
            [stored] = await store_files(self.blobs, path)
            manifest.append(ArtifactFile(name, stored.sha256, stored.size))
        return tuple(manifest)

    async def _first_is_production(self, version: ModelVersion, actor: str) -> None:
        state = await self.store.state(version.model)
        if state.stable is not None or state.swap is not None:
            return
        now = self._clock()
        reason = f"{STABLE} -> {version.version} (the model's first version)"
        event = Event(version.model, now, "alias", actor, reason, {"alias": STABLE})
        aliases = {**state.aliases, STABLE: version.version}
        await self.apply((_with_aliases(state, aliases), [event]))


def _recorded_class(model_class: str) -> str:
    source = code_source(model_class)
    if source is None:
        split_class_ref(model_class)
        return model_class
    return source[1]


def _checked_tags(tags: Mapping[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise RequestError(f"at most {MAX_TAGS} tags")
    for key, value in tags.items():
        if not TAG_KEY_PATTERN.fullmatch(key) or len(str(value)) > MAX_TAG_VALUE:
            raise RequestError(
                f"tag {key[:80]!r} must match {TAG_KEY_PATTERN.pattern} with a value of at "
                f"most {MAX_TAG_VALUE} characters"
            )
    return {str(k): str(v) for k, v in tags.items()}


def _with_aliases(state: ModelState, aliases: Mapping[str, str]) -> ModelState:
    return dataclasses.replace(state, aliases=dict(aliases))
