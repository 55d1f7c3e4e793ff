"""The registry's versions and aliases: immutable versions with their code and artifact,
safety at registration, and the first version as production."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from scaleserve.errors import (
    ConfigError,
    Conflict,
    DeploymentRefused,
    RequestError,
    UnknownAlias,
    UnknownModel,
    UnknownVersion,
    UnsafeArtifact,
)
from scaleserve.registry import deploy
from scaleserve.registry.code import version_spec
from scaleserve.registry.registry import Registry
from tests.registry.conftest import SCALER


async def test_a_version_records_its_artifact_and_a_copy_of_its_code(
    registry: Registry, weights: Path, tmp_path: Path
) -> None:
    version = await registry.register("scaler", model_class=SCALER, artifact=weights)
    assert (version.version, version.model_class) == ("1", "registry_app.py:Scaler")
    [config] = version.files
    assert config.path == "config.json" and config.size == len('{"factor": 2}')
    assert {f.path for f in version.code} >= {"registry_app.py", "app.py"}
    assert version.registered_by == "cli"
    # the version is served from its own code and artifact, not from the file it came from
    cache = tmp_path / "cache"
    from scaleserve.registry.artifacts import ArtifactCache

    artifacts = ArtifactCache(cache, registry.blobs)
    code = await artifacts.materialize(version.code)
    spec = version_spec(version, code)
    assert (spec.name, spec.version, spec.lane) == ("scaler", "1", "scaler@1")
    assert spec.model_class.__module__.startswith("scaleserve_target_registry_app")
    assert str(code) in spec.target


async def test_the_first_version_becomes_production_and_later_ones_do_not(
    registry: Registry, weights: Path
) -> None:
    await registry.register("scaler", model_class=SCALER, artifact=weights)
    await registry.register("scaler", model_class=SCALER, artifact=weights, version="v2")
    state = await registry.state("scaler")
    assert state.aliases == {"production": "1"}
    assert [v.version for v in await registry.versions("scaler")] == ["1", "v2"]
    assert (await registry.resolve("scaler", "production")).version == "1"
    assert (await registry.resolve("scaler", "v2")).version == "v2"


async def test_versions_are_immutable(registry: Registry, weights: Path) -> None:
    await registry.register("scaler", model_class=SCALER, artifact=weights, version="7")
    with pytest.raises(Conflict, match="immutable"):
        await registry.register("scaler", model_class=SCALER, artifact=weights, version="7")


async def test_a_class_that_does_not_load_is_refused_at_registration(
    registry: Registry, tmp_path: Path
) -> None:
    (tmp_path / "broken.py").write_text("import scaleserve\nclass Broken(scaleserve.Model): pass\n")
    with pytest.raises(ConfigError, match="does not implement predict"):
        await registry.register("broken", model_class=f"{tmp_path}/broken.py:Broken")
    with pytest.raises(ConfigError, match="must name a class"):
        await registry.register("broken", model_class=str(tmp_path / "broken.py"))
    with pytest.raises(UnknownModel):
        await registry.versions("broken")


@pytest.mark.parametrize("name", ["../etc", "Scaler", "", "a/b", "x" * 65])
async def test_bad_model_names_are_refused(registry: Registry, name: str) -> None:
    with pytest.raises(RequestError):
        await registry.register(name, model_class=SCALER)


async def test_a_pickle_is_refused_unless_an_admin_allows_it(
    registry: Registry, weights: Path
) -> None:
    (weights / "model.bin").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(UnsafeArtifact, match=r"model\.bin"):
        await registry.register("scaler", model_class=SCALER, artifact=weights)
    version = await registry.register(
        "scaler", model_class=SCALER, artifact=weights, allow_pickle=True
    )
    assert version.allow_pickle


async def test_links_in_an_artifact_are_refused(registry: Registry, weights: Path) -> None:
    os.symlink("/etc/passwd", weights / "passwd")
    with pytest.raises(UnsafeArtifact, match="symbolic link"):
        await registry.register("scaler", model_class=SCALER, artifact=weights)


async def test_aliases(registry: Registry, weights: Path) -> None:
    await registry.register("scaler", model_class=SCALER, artifact=weights)
    await registry.register("scaler", model_class=SCALER, artifact=weights)
    state = await registry.set_alias("scaler", "staging", "2", "admin:k1")
    assert state.aliases == {"production": "1", "staging": "2"}
    assert (await registry.resolve("scaler", "staging")).version == "2"
    with pytest.raises(UnknownVersion):
        await registry.set_alias("scaler", "staging", "9", "admin:k1")
    with pytest.raises(RequestError, match="is not an alias"):
        await registry.set_alias("scaler", "2", "1", "admin:k1")  # an alias has a letter
    with pytest.raises(RequestError, match="deploy"):
        await registry.set_alias("scaler", "canary", "2", "admin:k1")
    state = await registry.remove_alias("scaler", "staging", "admin:k1")
    assert state.aliases == {"production": "1"}
    with pytest.raises(UnknownAlias):
        await registry.remove_alias("scaler", "staging", "admin:k1")
    with pytest.raises(RequestError, match="managed"):
        await registry.remove_alias("scaler", "production", "admin:k1")


async def test_moving_production_is_a_swap_that_waits_for_the_version(
    registry: Registry, weights: Path
) -> None:
    await registry.register("scaler", model_class=SCALER, artifact=weights)
    await registry.register("scaler", model_class=SCALER, artifact=weights)
    state = await registry.set_alias("scaler", "production", "2", "admin:k1")
    assert state.stable == "1"
    assert state.swap is not None and state.swap.to == "2"
    # nothing serves it here: still swapping after the wait
    assert (await registry.wait_for_swap("scaler", "2", 0.2)).swap is not None
    refused = deploy.refuse_swap(state, 1.0, "its load() failed: RuntimeError: corrupt")
    await registry.apply(refused)
    with pytest.raises(DeploymentRefused, match="corrupt"):
        await registry.wait_for_swap("scaler", "2", 1)
    assert (await registry.state("scaler")).stable == "1"


async def test_two_changes_made_from_the_same_state_one_wins(
    registry: Registry, weights: Path
) -> None:
    for _ in range(3):
        await registry.register("scaler", model_class=SCALER, artifact=weights)
    state = await registry.state("scaler")
    first = deploy.request_swap(state, "2", "admin:a", 1.0, "alias moved")
    second = deploy.request_swap(state, "3", "admin:b", 1.0, "alias moved")
    await registry.apply(first)
    with pytest.raises(Conflict):
        await registry.apply(second)
    assert (await registry.state("scaler")).swap.to == "2"  # type: ignore[union-attr]


async def test_tags_and_metrics(registry: Registry, weights: Path) -> None:
    version = await registry.register(
        "scaler",
        model_class=SCALER,
        artifact=weights,
        tags={"team": "search", "data": "2026-11"},
        metrics={"accuracy": 0.91},
    )
    assert version.tags == {"team": "search", "data": "2026-11"}
    assert version.metrics == {"accuracy": 0.91}
    with pytest.raises(RequestError, match="tag"):
        await registry.register("scaler", model_class=SCALER, tags={"bad key!": "x"})
