"""Finds the ``Model`` classes a target declares.

A target is a directory holding ``app.py``, a ``.py`` file, or ``package.module``;
``:ClassName`` after any of them picks one class. Every ``Model`` subclass defined in
the module is served, in the order it is defined, unless the module lists its classes
in ``models = [...]``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from scaleserve.errors import ConfigError
from scaleserve.model.base import Model
from scaleserve.model.spec import ModelSpec

APP_FILE = "app.py"


def load_targets(targets: Sequence[str]) -> list[ModelSpec]:
    """The specs of every model that ``targets`` declare, checked together: names are
    unique across all of them, and a fallback may be a model of another target."""
    specs = [spec for target in targets for spec in _target_specs(target)]
    where = " ".join(targets)
    _check_unique_names(specs, where)
    _check_fallbacks(specs, where)
    return specs


def load_specs(target: str) -> list[ModelSpec]:
    """Import ``target`` and return the validated spec of each model it declares."""
    return load_targets([target])


def _target_specs(target: str) -> list[ModelSpec]:
    module_ref, _, class_name = target.partition(":")
    module = import_target(module_ref)
    classes = [c for c in _declared_models(module) if not getattr(c, "is_pipeline", False)]
    if class_name:
        classes = [c for c in classes if c.__name__ == class_name]
        if not classes:
            raise ConfigError(f"{target!r}: no Model subclass named {class_name!r}")
    if not classes and not _declares_pipelines(module):
        raise ConfigError(f"{target!r} declares no scaleserve.Model subclass")
    return [ModelSpec.from_class(c, target=target) for c in classes]


def _declares_pipelines(module: ModuleType) -> bool:
    return any(
        getattr(obj, "is_pipeline", False) and getattr(obj, "__module__", "") == module.__name__
        for obj in vars(module).values()
    )


def import_target(module_ref: str) -> ModuleType:
    """The module of a target (a directory with ``app.py``, a file, or a module name)."""
    path = Path(module_ref)
    if path.is_dir():
        path = path / APP_FILE
    if path.suffix == ".py" or "/" in module_ref or path.exists():
        if not path.is_file():
            raise ConfigError(f"no such file: {path}")
        return _import_file(path.resolve())
    try:
        return importlib.import_module(module_ref)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_ref!r}: {exc}") from exc


def _import_file(path: Path) -> ModuleType:
    # The file's folder goes on sys.path so an example can import its sibling modules.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    module_name = f"scaleserve_target_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[module_name]
        raise
    return module


def _declared_models(module: ModuleType) -> list[type[Model]]:
    listed = getattr(module, "models", None)
    if listed is not None:
        return list(listed)
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Model)
        and obj is not Model
        and obj.__module__ == module.__name__
        and not inspect.isabstract(obj)
    ]


def _check_unique_names(specs: list[ModelSpec], target: str) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"{target!r} declares two models named {spec.name!r}")
        seen.add(spec.name)


def _check_fallbacks(specs: list[ModelSpec], target: str) -> None:
    """A fallback must be another served model taking the same items, itself without one
    (so a request is answered by at most two models)."""
    by_name = {spec.name: spec for spec in specs}
    for spec in specs:
        if spec.fallback is None:
            continue
        other = by_name.get(spec.fallback)
        if other is None or other is spec:
            raise ConfigError(
                f"{target!r}: {spec.name!r} falls back to {spec.fallback!r}, "
                "which is not another model of this target"
            )
        if other.fallback is not None:
            raise ConfigError(f"{target!r}: fallback {other.name!r} has a fallback of its own")
        if other.input_adapter.json_schema() != spec.input_adapter.json_schema():
            raise ConfigError(
                f"{target!r}: fallback {other.name!r} takes other input items than {spec.name!r}"
            )
