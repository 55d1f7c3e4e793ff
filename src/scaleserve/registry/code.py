"""A version's model class and the code it comes from.

A class is named as a ``scaleserve serve`` target: ``package.module:Class`` (an installed
module, recorded as is) or ``path/app.py:Class`` / ``path/dir:Class`` (a file of the user's).
A file's folder's Python files are copied into the registry with the version, so a later
edit of the file changes no registered version; the class is then recorded as
``app.py:Class`` within that code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scaleserve.errors import ConfigError, UnsafeArtifact
from scaleserve.model.loader import APP_FILE, load_specs
from scaleserve.model.spec import ModelSpec
from scaleserve.registry.records import ModelVersion

MLFLOW_PYFUNC = "mlflow.pyfunc"
MAX_CODE_FILES = 64
MAX_CODE_BYTES = 8 * 1024 * 1024


def split_class_ref(ref: str) -> tuple[str, str]:
    """``(target, class name)`` of ``target:Class``; the class is required."""
    target, _, class_name = ref.rpartition(":")
    if not target or not class_name.isidentifier():
        raise ConfigError(f"{ref!r} must name a class: path/app.py:Class or module:Class")
    return target, class_name


def code_source(ref: str) -> tuple[Path, str] | None:
    """For a class in a file: ``(the folder to copy, the class ref within it)``; ``None``
    for an installed module's class."""
    target, class_name = split_class_ref(ref)
    path = Path(target)
    if path.is_dir():
        path = path / APP_FILE
    if path.suffix != ".py" and "/" not in target and not path.exists():
        return None
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    return path.parent, f"{path.name}:{class_name}"


def code_files(folder: Path) -> list[tuple[str, Path]]:
    """The Python files of ``folder`` (not its subfolders), within bounds."""
    files = sorted(p for p in folder.glob("*.py") if p.is_file() and not p.is_symlink())
    files = [p for p in files if not p.name.startswith("test_")]
    if len(files) > MAX_CODE_FILES or sum(p.stat().st_size for p in files) > MAX_CODE_BYTES:
        raise UnsafeArtifact(
            f"{folder} holds more Python code than a model's folder should "
            f"({MAX_CODE_FILES} files, {MAX_CODE_BYTES} bytes); give the model a folder of its own"
        )
    return [(p.name, p) for p in files]


def version_spec(version: ModelVersion, code_dir: Path | None) -> ModelSpec:
    """The spec of ``version``: its class, named as the model, at the version, with a queue
    of its own (``model@version``)."""
    spec = _class_spec(version, code_dir)
    return dataclasses.replace(
        spec,
        name=version.model,
        version=version.version,
        lane=lane_name(version.model, version.version),
    )


def _class_spec(version: ModelVersion, code_dir: Path | None) -> ModelSpec:
    if version.flavor == MLFLOW_PYFUNC:
        from scaleserve.registry.mlflow_pyfunc import pyfunc_model_class

        return ModelSpec.from_class(pyfunc_model_class(version))
    if version.flavor != "scaleserve":
        raise ConfigError(f"version {version.version} of {version.model!r} has an unknown "
                          f"flavor {version.flavor!r}")  # fmt: skip
    target = version.model_class
    if version.code:
        if code_dir is None:
            raise ConfigError(f"version {version.version} of {version.model!r} needs its code")
        target = f"{code_dir}/{version.model_class}"
    [spec] = load_specs(target)
    return spec


def lane_name(model: str, version: str) -> str:
    """The queue of one version of a registry model (a version has its own workers)."""
    return f"{model}@{version}"
