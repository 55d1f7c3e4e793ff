"""Importing MLflow model versions from a real MLflow tracking server (SQLite backend,
proxied artifacts, started once per session on loopback) and serving them through the
pyfunc adapter."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from scaleserve.errors import ConfigError, RequestError, UnsafeArtifact
from scaleserve.model.spec import ModelSpec
from scaleserve.registry.artifacts import ArtifactCache
from scaleserve.registry.backends.local_blobs import LocalBlobStore
from scaleserve.registry.backends.sqlite import SqliteRegistryStore
from scaleserve.registry.code import MLFLOW_PYFUNC, version_spec
from scaleserve.registry.mlflow_import import MODEL_CLASS, import_mlflow, read_mlmodel
from scaleserve.registry.mlflow_pyfunc import pyfunc_model_class
from scaleserve.registry.records import ModelVersion
from scaleserve.registry.registry import Registry
from scaleserve.testing import running_service
from scaleserve.types import FailureKind, ItemResult, WorkItem
from scaleserve.worker.runner import ModelRunner

# Importing mlflow.pyfunc infers schemas of MLflow's own agent types, and warns about them.
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")

CLIENT_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
SERVER_ENV = {**CLIENT_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
START_TIMEOUT_S = 60.0
SKLEARN = "flowers"
ONNX = "summer"
ROWS = [
    {"sepal length": 5.1, "petal_width": 0.2, "color": "red"},
    {"sepal length": 6.7, "petal_width": 2.1, "color": "blue"},
    {"sepal length": 5.9, "petal_width": 1.4, "color": "green"},
]
VECTORS = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0], [0.0, 0.0, 0.0]]


@dataclass(frozen=True)
class Logged:
    """What the session logged into the MLflow server, and what MLflow itself predicts."""

    tracking_uri: str
    sklearn_expected: list[Any]
    onnx_expected: list[Any]
    sklearn_run_id: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"mlflow server did not answer /health in {START_TIMEOUT_S}s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """End the server and its uvicorn worker: the process group it leads."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("mlflow") is None:
        pytest.skip("MLflow is not installed: pip install 'scaleserve[mlflow]'")
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
        *("--artifacts-destination", str(root / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    log = root / "server.log"
    with pytest.MonkeyPatch.context() as patch, log.open("wb") as out:
        for key, value in CLIENT_ENV.items():
            patch.setenv(key, value)
        server = subprocess.Popen(
            command,
            cwd=root,
            env={**os.environ, **SERVER_ENV},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, log)
            yield url
        finally:
            _stop(server)


@pytest.fixture(scope="session")
def logged(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    """Log and register the two models with MLflow's fluent API, then point MLflow's
    process-wide URIs at an empty decoy store: the importer must use the URI it is given."""
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    try:
        run_id, sklearn_expected = _log_sklearn(mlflow)
        onnx_expected = _log_onnx(mlflow)
        client = mlflow.MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
        client.set_registered_model_alias(SKLEARN, "champion", "1")
        decoy = f"sqlite:///{tmp_path_factory.mktemp('decoy') / 'decoy.db'}"
        mlflow.set_tracking_uri(decoy)
        mlflow.set_registry_uri(decoy)
        yield Logged(mlflow_server, sklearn_expected, onnx_expected, run_id)
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


def _log_sklearn(mlflow: Any) -> tuple[str, list[Any]]:
    """A small pipeline over numeric and text columns, pickled (cloudpickle) by MLflow."""
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = pd.DataFrame(ROWS * 4)
    labels = [0, 1, 1] * 4
    features = ColumnTransformer(
        [
            ("num", StandardScaler(), ["sepal length", "petal_width"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
        ]
    )
    pipeline = Pipeline([("features", features), ("classify", LogisticRegression())])
    pipeline.fit(train, labels)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(train, pipeline.predict(train)),
            registered_model_name=SKLEARN,
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn", "cloudpickle"],
        )
    direct = mlflow.pyfunc.load_model(f"models:/{SKLEARN}/1").predict(pd.DataFrame(ROWS))
    return run.info.run_id, direct.tolist()


def _log_onnx(mlflow: Any) -> list[Any]:
    """A linear regression converted to ONNX: a data-only artifact with tensor types."""
    import numpy as np
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    train = np.asarray(VECTORS * 3, dtype=np.float32) + np.arange(9, dtype=np.float32)[:, None]
    regression = LinearRegression().fit(train, train.sum(axis=1))
    signature = infer_signature(train, regression.predict(train).astype(np.float32))
    with mlflow.start_run():
        mlflow.onnx.log_model(
            to_onnx(regression, train[:1]),
            name="model",
            signature=signature,
            registered_model_name=ONNX,
            pip_requirements=["onnx", "onnxruntime"],
        )
    model = mlflow.pyfunc.load_model(f"models:/{ONNX}/1")
    direct = model.predict(np.asarray(VECTORS, dtype=np.float32))
    return [float(v) for v in np.asarray(next(iter(direct.values()))).reshape(-1)]


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    store = SqliteRegistryStore(tmp_path / "registry.db")
    await store.open()
    yield Registry(store, LocalBlobStore(tmp_path / "blobs"))
    await store.close()


async def _serve(registry: Registry, version: ModelVersion, rows: list[Any], tmp: Path) -> Any:
    """Run ``rows`` through the version's adapter, loaded from the registry's artifact."""
    spec = version_spec(version, None)
    model = spec.model_class()
    cache = ArtifactCache(tmp / "cache", registry.blobs)
    model.artifact_dir = await cache.materialize(version.files, verify=version.allow_pickle)
    model.load()
    now = time.time()
    items = [WorkItem(i, json.dumps(row).encode(), now + 30, now) for i, row in enumerate(rows)]
    results = await ModelRunner(spec, model).run(items)
    return sorted(results, key=lambda r: r.id)


def _outputs(results: list[ItemResult]) -> list[Any]:
    assert all(r.failure is None for r in results), results
    return [json.loads(r.output or b"null") for r in results]


async def test_a_pickled_model_is_refused_without_permission(
    registry: Registry, logged: Logged
) -> None:
    with pytest.raises(UnsafeArtifact, match="runs code when it loads"):
        await import_mlflow(registry, f"models:/{SKLEARN}/1", tracking_uri=logged.tracking_uri)
    assert await registry.models() == []


async def test_import_by_alias_serves_what_mlflow_predicts(
    registry: Registry, logged: Logged, tmp_path: Path
) -> None:
    uri = f"models:/{SKLEARN}@champion"
    version = await import_mlflow(
        registry, uri, tracking_uri=logged.tracking_uri, allow_pickle=True, actor="admin-1"
    )

    assert (version.model, version.version, version.flavor) == (SKLEARN, "1", MLFLOW_PYFUNC)
    assert version.model_class == MODEL_CLASS and version.allow_pickle
    assert version.registered_by == "admin-1"
    assert version.tags["mlflow.source"] == uri and version.tags["mlflow.version"] == "1"
    assert version.tags["mlflow.run_id"] == logged.sklearn_run_id
    assert version.signature is not None
    assert json.loads(json.dumps(version.signature)) == version.signature  # plain JSON
    names = [column["name"] for column in version.signature["inputs"]]
    assert names == ["sepal length", "petal_width", "color"]
    assert {"MLmodel", "model.pkl"} <= {f.path for f in version.files}
    assert all(len(f.sha256) == 64 and f.size > 0 for f in version.files)
    assert await registry.version(SKLEARN, "1") == version

    results = await _serve(registry, version, ROWS, tmp_path)
    assert _outputs(results) == logged.sklearn_expected


async def test_the_signature_types_the_items(registry: Registry, logged: Logged) -> None:
    version = await import_mlflow(
        registry, f"models:/{SKLEARN}/1", tracking_uri=logged.tracking_uri, allow_pickle=True
    )
    spec = version_spec(version, None)

    assert (spec.name, spec.version, spec.lane) == (SKLEARN, "1", f"{SKLEARN}@1")
    assert (spec.max_batch_size, spec.max_wait_ms) == (64, 2.0)
    spec.input_adapter.validate_json(json.dumps(ROWS[0]))
    for bad in (
        {"sepal length": "long", "petal_width": 0.2, "color": "red"},  # not a number
        {"petal_width": 0.2, "color": "red"},  # a required column missing
        {**ROWS[0], "colour": "red"},  # no such column
    ):
        with pytest.raises(ValidationError):
            spec.input_adapter.validate_json(json.dumps(bad))
    assert spec.input_adapter.json_schema()["required"] == ["sepal length", "petal_width", "color"]
    assert spec.output_adapter.json_schema()["type"] == "integer"


async def test_a_bad_item_fails_alone_in_its_batch(
    registry: Registry, logged: Logged, tmp_path: Path
) -> None:
    version = await import_mlflow(
        registry, f"models:/{SKLEARN}/1", tracking_uri=logged.tracking_uri, allow_pickle=True
    )
    rows = [ROWS[0], {"color": "red"}, ROWS[2]]

    results = await _serve(registry, version, rows, tmp_path)

    assert [r.failure for r in results] == [None, FailureKind.INPUT, None]
    assert "sepal length" in (results[1].error or "")
    good = [results[0], results[2]]
    assert _outputs(good) == [logged.sklearn_expected[0], logged.sklearn_expected[2]]


async def test_a_version_without_permission_never_unpickles(
    registry: Registry, logged: Logged, tmp_path: Path
) -> None:
    """Defence in depth: should a pickled artifact reach a version registered without
    allow_pickle, MLflow is told to refuse it while the adapter loads."""
    version = await import_mlflow(
        registry, f"models:/{SKLEARN}/1", tracking_uri=logged.tracking_uri, allow_pickle=True
    )
    model = pyfunc_model_class(dataclasses.replace(version, allow_pickle=False))()
    model.artifact_dir = await ArtifactCache(tmp_path, registry.blobs).materialize(version.files)
    before = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")

    with pytest.raises(Exception, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        model.load()
    assert os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION") == before


async def test_an_onnx_model_needs_no_permission(
    registry: Registry, logged: Logged, tmp_path: Path
) -> None:
    version = await import_mlflow(
        registry, f"models:/{ONNX}/1", tracking_uri=logged.tracking_uri, name="summer-onnx"
    )

    assert (version.model, version.allow_pickle) == ("summer-onnx", False)
    assert any(f.path.endswith(".onnx") for f in version.files)
    spec = version_spec(version, None)
    assert spec.input_adapter.validate_json("[1, 2.5, 3]") == [1.0, 2.5, 3.0]
    for bad in ("[1, 2]", '["a", 2, 3]', "1.5"):
        with pytest.raises(ValidationError):
            spec.input_adapter.validate_json(bad)

    results = await _serve(registry, version, VECTORS, tmp_path)
    assert _outputs(results) == logged.onnx_expected


async def test_a_version_mlflow_lacks_is_refused(registry: Registry, logged: Logged) -> None:
    with pytest.raises(RequestError, match="MLflow cannot provide"):
        await import_mlflow(registry, f"models:/{ONNX}/9", tracking_uri=logged.tracking_uri)
    with pytest.raises(RequestError, match="MLflow cannot provide"):
        await import_mlflow(registry, f"models:/{ONNX}@nobody", tracking_uri=logged.tracking_uri)


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc",
        "http://x",
        "https://example.com/models/a/1",
        "models:/",
        "models:/flowers",
        "models:/flowers/",
        "models:/flowers/latest",
        "models:/flowers/Production",
        "models:/flowers/1/extra",
        "models:/flowers@",
        "models:/../etc/1",
        "models://profile@databricks/flowers/1",
        "runs:/0123456789abcdef/model",
        "mlflow-artifacts:/0/models/m-1/artifacts",
        "/etc/passwd",
    ],
)
async def test_anything_but_a_model_version_uri_is_refused(registry: Registry, uri: str) -> None:
    with pytest.raises(RequestError, match="not an MLflow model version"):
        await import_mlflow(registry, uri, tracking_uri="http://127.0.0.1:9")


async def test_an_mlflow_name_that_is_no_model_name_needs_one(registry: Registry) -> None:
    with pytest.raises(RequestError, match="give it a scaleserve name"):
        await import_mlflow(registry, "models:/Flowers/1", tracking_uri="http://127.0.0.1:9")


async def test_missing_mlflow_is_a_config_error(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ConfigError, match=r"scaleserve\[mlflow\]"):
        await import_mlflow(registry, "models:/flowers/1", tracking_uri="http://127.0.0.1:9")


def test_a_model_without_the_pyfunc_flavor_is_refused(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors:\n  keras:\n    keras_version: 3.0\n")
    with pytest.raises(RequestError, match=r"no python_function flavor \(it has: keras\)"):
        read_mlmodel(tmp_path)


def _version(signature: dict[str, Any] | None) -> ModelVersion:
    return ModelVersion("typed", "2", MODEL_CLASS, (), flavor=MLFLOW_PYFUNC, signature=signature)


def test_column_types_follow_mlflow_types() -> None:
    columns = [
        {"type": "string", "name": "text"},
        {"type": "double", "name": "score"},
        {"type": "integer", "name": "count"},
        {"type": "boolean", "name": "flag"},
        {"type": "binary", "name": "blob"},
        {"type": "datetime", "name": "at"},
        {"type": "array", "items": {"type": "long"}, "name": "ids", "required": False},
        {"type": "long", "name": "class", "required": False},
    ]
    signature = {"inputs": json.dumps(columns), "outputs": None, "params": None}
    spec = ModelSpec.from_class(pyfunc_model_class(_version(signature)))
    row = {
        "text": "hi",
        "score": 1,
        "count": 3,
        "flag": True,
        "blob": base64.b64encode(b"\x00\x01").decode(),
        "at": "2024-05-01T12:00:00",
    }

    item = spec.input_adapter.validate_python(row)

    assert item.blob == b"\x00\x01" and item.at == datetime(2024, 5, 1, 12)
    assert item.ids is None and item.field_7 is None  # optional; "class" is no identifier
    assert spec.input_adapter.validate_python({**row, "class": 7}).field_7 == 7
    with pytest.raises(ValidationError):
        spec.input_adapter.validate_python({**row, "count": 2**31})  # over int32
    assert spec.output_type is Any


def test_tensor_and_untyped_signatures() -> None:
    tensor = {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2, 2]}}
    scalar = {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    signature = {"inputs": [tensor], "outputs": [scalar], "params": None}
    spec = ModelSpec.from_class(pyfunc_model_class(_version(signature)))

    assert spec.input_adapter.validate_python([[1, 2], [3, 4]]) == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ValidationError):
        spec.input_adapter.validate_python([[1, 2, 3], [3, 4, 5]])
    assert spec.output_adapter.validate_python(3) == 3

    untyped = ModelSpec.from_class(pyfunc_model_class(_version(None)))
    assert (untyped.input_type, untyped.output_type) == (Any, Any)


def test_results_become_one_plain_value_per_item() -> None:
    import numpy as np
    import pandas as pd

    from scaleserve.registry.mlflow_data import output_rows
    from scaleserve.registry.mlflow_signature import UNTYPED, signature_side

    frame = pd.DataFrame({"label": ["a", "b"], "p": np.asarray([0.5, 0.25], dtype=np.float32)})
    assert output_rows(frame, UNTYPED) == [{"label": "a", "p": 0.5}, {"label": "b", "p": 0.25}]
    arrays = {"x": np.asarray([[1], [2]]), "y": np.asarray([True, False])}
    assert output_rows(arrays, UNTYPED) == [{"x": [1], "y": True}, {"x": [2], "y": False}]
    named = {"outputs": [{"type": "long", "name": "class"}]}
    side = signature_side(named, "outputs", "T")
    assert output_rows(np.asarray([3, 4]), side) == [{"class": 3}, {"class": 4}]
    adapter = TypeAdapter(side.item_type)
    assert adapter.dump_json(adapter.validate_python({"class": 3})) == b'{"class":3}'
    when = pd.Series(pd.to_datetime(["2024-05-01T12:00:00"]))
    assert output_rows(when, UNTYPED) == [datetime(2024, 5, 1, 12)]


async def test_an_imported_model_is_served_end_to_end(logged: Logged, tmp_path: Path) -> None:
    """``scaleserve models import mlflow`` then ``scaleserve serve models:/NAME``: requests
    are validated against the MLflow signature and answered as MLflow would."""
    data_dir = tmp_path / "data"
    argv = [sys.executable, "-m", "scaleserve", "models", "import", "mlflow",
            f"models:/{ONNX}/1", "--tracking-uri", logged.tracking_uri, "--as", "summer",
            "--data-dir", str(data_dir)]  # fmt: skip
    env = {**os.environ, **CLIENT_ENV}
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, env=env, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["flavor"] == MLFLOW_PYFUNC
    with running_service("models:/summer", args=["--data-dir", str(data_dir)], env=CLIENT_ENV) as s:
        async with httpx.AsyncClient(base_url=s.base_url, timeout=60) as client:
            answer = await client.post("/v1/models/summer/predict", json={"inputs": VECTORS})
            bad = await client.post("/v1/models/summer/predict", json={"inputs": [[1, 2]]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == logged.onnx_expected
    assert answer.headers["x-model-version"] == "1"
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_input")
