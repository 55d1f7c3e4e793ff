"""Serving MLflow ``python_function`` models: a ``Model`` whose item types come from the
version's MLflow signature (``scaleserve.registry.mlflow_signature``).

``pyfunc_model_class(version)`` makes the class of an imported version (flavor
``mlflow.pyfunc``, see ``scaleserve.registry.mlflow_import``). Its worker loads the
artifact with ``mlflow.pyfunc.load_model``; each batch becomes one DataFrame or array
(``scaleserve.registry.mlflow_data``) and one ``predict`` call. MLflow, numpy and pandas
are imported by ``load()`` only: the gateway imports the class for its types alone.
"""

from __future__ import annotations

import contextlib
import os
import types
from collections.abc import Iterator
from typing import Any, ClassVar

from scaleserve.errors import ConfigError
from scaleserve.model.base import Model
from scaleserve.registry.mlflow_signature import UNTYPED, Side, signature_side
from scaleserve.registry.records import ModelVersion

MLFLOW_MISSING = "serving MLflow models needs MLflow: pip install 'scaleserve[mlflow]'"
_PICKLE_SWITCH = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


class MlflowPyfunc(Model):
    """Serves the MLflow pyfunc model in ``artifact_dir`` with untyped items; the class of
    an imported version (``pyfunc_model_class``) types them from its signature."""

    max_batch_size = 64
    max_wait_ms = 2.0
    allow_pickle: ClassVar[bool] = False
    """The version may unpickle (an admin allowed it); otherwise MLflow is told to refuse."""
    inputs: ClassVar[Side] = UNTYPED
    outputs: ClassVar[Side] = UNTYPED
    _pyfunc: Any = None

    def load(self) -> None:
        if self.artifact_dir is None:
            raise ConfigError(f"{type(self).__name__} serves a registry artifact; it has none")
        try:
            import mlflow.pyfunc
        except ImportError:
            raise ConfigError(MLFLOW_MISSING) from None
        with _pickle_gate(self.allow_pickle):
            self._pyfunc = mlflow.pyfunc.load_model(str(self.artifact_dir))

    def predict(self, batch: list[Any]) -> list[Any]:
        from scaleserve.registry.mlflow_data import model_input, output_rows

        if self._pyfunc is None:
            raise ConfigError(f"{type(self).__name__}.predict ran before load()")
        result = self._pyfunc.predict(model_input(batch, self.inputs))
        return output_rows(result, self.outputs)


def pyfunc_model_class(version: ModelVersion) -> type[Model]:
    """The ``Model`` class serving ``version``: named as its model at its version, its
    ``predict`` annotated ``list[In] -> list[Out]`` from the version's signature."""
    title = _class_name(version)
    inputs = signature_side(version.signature, "inputs", title)
    outputs = signature_side(version.signature, "outputs", title)

    def predict(self: MlflowPyfunc, batch: list[Any]) -> list[Any]:
        return MlflowPyfunc.predict(self, batch)

    predict.__annotations__ = {
        "batch": types.GenericAlias(list, (inputs.item_type,)),
        "return": types.GenericAlias(list, (outputs.item_type,)),
    }
    namespace = {
        "__module__": __name__,
        "__qualname__": title,
        "__doc__": f"MLflow model {version.model!r} at version {version.version}.",
        "name": version.model,
        "version": version.version,
        "allow_pickle": version.allow_pickle,
        "inputs": inputs,
        "outputs": outputs,
        "predict": predict,
    }
    return type(title, (MlflowPyfunc,), namespace)


def _class_name(version: ModelVersion) -> str:
    words = f"{version.model} v{version.version}".replace("-", " ").replace(".", " ")
    name = "".join(w[:1].upper() + w[1:] for w in words.replace("_", " ").split())
    return f"Mlflow{name}"


@contextlib.contextmanager
def _pickle_gate(allow_pickle: bool) -> Iterator[None]:
    """Make MLflow refuse to unpickle while loading a version no admin allowed to; a
    version registered with ``allow_pickle`` loads under the process's own setting."""
    if allow_pickle:
        yield
        return
    before = os.environ.get(_PICKLE_SWITCH)
    os.environ[_PICKLE_SWITCH] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_PICKLE_SWITCH, None)
        else:
            os.environ[_PICKLE_SWITCH] = before
