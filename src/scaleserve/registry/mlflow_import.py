"""Importing an MLflow model version into the registry.

``import_mlflow`` takes ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``, and nothing
else: a file path or a URL would let a caller make scaleserve read what it names. The
version's artifact is downloaded from the tracking server's model registry, checked and
registered as a version of flavor ``mlflow.pyfunc``, served by
``scaleserve.registry.mlflow_pyfunc`` with item types from its MLflow signature (stored as
plain JSON, see ``scaleserve.registry.mlflow_signature``).

A model that unpickles, or runs code of its artifact, when it loads is refused unless
``allow_pickle``: every flavor whose pyfunc loader is not known to read data only (ONNX),
a model shipping code (``code_paths``), and any pickle-based file. The sklearn flavor is
one, in every serialization: skops reads its list of trusted types from the artifact.
The version records ``allow_pickle`` only when it needed it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from scaleserve.errors import ConfigError, RequestError, UnsafeArtifact
from scaleserve.model.spec import MODEL_NAME_PATTERN
from scaleserve.registry.code import MLFLOW_PYFUNC
from scaleserve.registry.mlflow_signature import plain_signature
from scaleserve.registry.records import ModelVersion
from scaleserve.registry.registry import Registry
from scaleserve.registry.safety import is_pickle, regular_files

MODEL_CLASS = "scaleserve.registry.mlflow_pyfunc:MlflowPyfunc"
"""The class recorded for an imported version (the flavor picks the adapter)."""
DATA_ONLY_LOADERS = frozenset({"mlflow.onnx"})
"""Pyfunc loaders that read data and run none of the artifact's code."""
MAX_URI_LENGTH = 256
_MODELS_URI = re.compile(
    r"models:/(?P<name>[A-Za-z0-9][\w.\- ]{0,200})"
    r"(?:/(?P<version>[1-9][0-9]{0,9})|@(?P<alias>[A-Za-z0-9_-]{1,64}))"
)
_LOCAL_SCHEMES = frozenset({"", "file"})


@dataclass(frozen=True)
class MlflowRef:
    """A model version in an MLflow model registry: by number or by alias."""

    uri: str
    name: str
    version: str | None = None
    alias: str | None = None


@dataclass(frozen=True)
class _Download:
    folder: Path
    version: str
    run_id: str | None
    description: str


async def import_mlflow(
    registry: Registry,
    uri: str,
    *,
    tracking_uri: str | None,
    name: str | None = None,
    allow_pickle: bool = False,
    actor: str = "cli",
) -> ModelVersion:
    """Register the MLflow model version ``uri`` as the next version of ``name`` (default:
    its MLflow name). ``tracking_uri`` is the MLflow server (``None``: MLflow's own
    configuration). ``RequestError`` for a bad URI or a version MLflow cannot provide,
    ``UnsafeArtifact`` for one that unpickles or runs code without ``allow_pickle``."""
    ref = parse_models_uri(uri)
    model = _model_name(name, ref)
    _mlflow()
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="scaleserve-mlflow-"))
    try:
        download = await asyncio.to_thread(_download, ref, tracking_uri, workdir)
        mlmodel = await asyncio.to_thread(read_mlmodel, download.folder)
        risks = await asyncio.to_thread(code_risks, mlmodel, download.folder)
        if risks and not allow_pickle:
            raise UnsafeArtifact(
                f"{uri} runs code when it loads ({'; '.join(risks)}); import it as an admin "
                "with allow_pickle if you trust it"
            )
        return await registry.register(
            model,
            model_class=MODEL_CLASS,
            artifact=download.folder,
            actor=actor,
            tags=_tags(ref, download),
            allow_pickle=bool(risks),
            description=download.description,
            flavor=MLFLOW_PYFUNC,
            signature=plain_signature(mlmodel.get("signature")),
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def parse_models_uri(uri: str) -> MlflowRef:
    """``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``; ``RequestError`` for anything
    else (a path, a URL, a stage, a run)."""
    match = _MODELS_URI.fullmatch(uri) if len(uri) <= MAX_URI_LENGTH else None
    if match is None:
        raise RequestError(
            f"{uri[:80]!r} is not an MLflow model version: use models:/NAME/VERSION or "
            "models:/NAME@ALIAS"
        )
    return MlflowRef(uri, match["name"], match["version"], match["alias"])


def read_mlmodel(folder: Path) -> dict[str, Any]:
    """The ``MLmodel`` file of a downloaded model, which must have a ``python_function``
    flavor (``RequestError`` otherwise)."""
    path = folder / "MLmodel"
    if not path.is_file():
        raise RequestError("the MLflow artifact has no MLmodel file: it is not an MLflow model")
    try:
        mlmodel: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RequestError(f"the MLmodel file cannot be read: {exc}") from None
    flavors = mlmodel.get("flavors") if isinstance(mlmodel, dict) else None
    if not isinstance(flavors, dict) or not isinstance(flavors.get("python_function"), dict):
        found = ", ".join(sorted(flavors)) if isinstance(flavors, dict) else "none"
        raise RequestError(
            f"the MLflow model has no python_function flavor (it has: {found}); scaleserve "
            "serves MLflow models through pyfunc"
        )
    return dict(mlmodel)


def code_risks(mlmodel: Mapping[str, Any], folder: Path) -> list[str]:
    """Why loading the model would unpickle or run code of its artifact (empty: it would
    not)."""
    flavors: Mapping[str, Any] = mlmodel["flavors"]
    risks = []
    loader = flavors["python_function"].get("loader_module")
    if loader not in DATA_ONLY_LOADERS:
        risks.append(f"its loader {loader} deserializes objects or runs its code")
    if any(isinstance(conf, dict) and conf.get("code") for conf in flavors.values()):
        risks.append("it ships Python code")
    pickles = [name for name, path in regular_files(folder) if is_pickle(path)]
    if pickles:
        risks.append(f"it holds pickle-based files: {', '.join(pickles[:5])}")
    return risks


def _model_name(name: str | None, ref: MlflowRef) -> str:
    model = name or ref.name
    if not MODEL_NAME_PATTERN.fullmatch(model):
        hint = "" if name else "; give it a scaleserve name"
        raise RequestError(
            f"{model[:80]!r} is not a model name: 1 to 64 of a-z, 0-9, '.', '_', '-', starting "
            f"with a letter or digit{hint}"
        )
    return model


def _mlflow() -> Any:
    try:
        import mlflow
        import mlflow.artifacts
    except ImportError:
        raise ConfigError(
            "importing MLflow models needs MLflow: pip install 'scaleserve[mlflow]'"
        ) from None
    return mlflow


def _download(ref: MlflowRef, tracking_uri: str | None, workdir: Path) -> _Download:
    """Resolve ``ref`` with the tracking server's registry and download its artifact
    (blocking: run it in a thread)."""
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    # The registry is named explicitly: MLflow's ``models:/`` resolution reads the
    # process-wide registry URI instead of the one given to it.
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        if ref.alias is not None:
            found = client.get_model_version_by_alias(ref.name, ref.alias)
        else:
            found = client.get_model_version(ref.name, ref.version)
        source = client.get_model_version_download_uri(ref.name, found.version)
        _check_source(ref, source, tracking_uri)
        folder = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(workdir), tracking_uri=tracking_uri
        )
    except MlflowException as exc:
        raise RequestError(f"MLflow cannot provide {ref.uri}: {exc.message}") from None
    return _Download(
        Path(folder), str(found.version), found.run_id or None, found.description or ""
    )


def _check_source(ref: MlflowRef, source: str, tracking_uri: str | None) -> None:
    """Refuse artifact locations that would be read with other settings than
    ``tracking_uri``: another ``models:`` URI, or, from a remote server, this host's files."""
    scheme = urlparse(source).scheme
    if scheme == "models":
        raise RequestError(f"MLflow resolves {ref.uri} to another model URI ({source[:200]})")
    remote = urlparse(tracking_uri or "").scheme in {"http", "https"}
    if remote and scheme in _LOCAL_SCHEMES:
        raise UnsafeArtifact(
            f"the MLflow server places {ref.uri} at {source[:200]!r}, a path on this host; "
            "a remote server's artifacts are downloaded through it, never read locally"
        )


def _tags(ref: MlflowRef, download: _Download) -> dict[str, str]:
    tags = {"mlflow.source": ref.uri, "mlflow.name": ref.name, "mlflow.version": download.version}
    if download.run_id:
        tags["mlflow.run_id"] = download.run_id
    return tags
