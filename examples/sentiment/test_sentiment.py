"""The sentiment example: its model in-process, then served by a real ``scaleserve serve``.

Every model these tests train goes to a temporary folder, never to ``artifacts/``.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from scaleserve.testing import Service, running_service

HERE = Path(__file__).resolve().parent
PREDICT = "/v1/models/sentiment/predict"
MIN_HELD_OUT_ACCURACY = 0.72  # measured: 0.791 on the 201 held-out reviews

POSITIVE = [
    "I absolutely loved this movie, the acting was wonderful.",
    "Great phone, fast and the battery lasts all day.",
    "Not bad at all, I would buy it again.",
    "No complaints, it works perfectly.",
]
NEGATIVE = [
    "The food was cold and the waiter was rude.",
    "I did not enjoy it.",
    "Terrible quality, it broke after two days.",
    "I would not recommend this hotel.",
]


def _import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("in-process") / "sentiment.onnx"


@pytest.fixture(scope="module")
def example(model_path: Path) -> Iterator[tuple[ModuleType, Any]]:
    """The ``train`` module and a loaded ``Sentiment`` that trained into ``model_path``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(HERE))  # what scaleserve does for the folder it serves
        patch.setenv("SENTIMENT_MODEL_PATH", str(model_path))
        try:
            app = _import_file(HERE / "app.py", "sentiment_example_app")
            model = app.Sentiment()
            model.load()
            yield importlib.import_module("train"), model
        finally:
            # "train" is a common name: leave it free for another example's module.
            for name in ("train", "sentiment_example_app"):
                sys.modules.pop(name, None)


@pytest.fixture
def model(example: tuple[ModuleType, Any]) -> Any:
    return example[1]


def test_clear_texts_get_the_obvious_label(model: Any) -> None:
    predictions = model.predict(POSITIVE + NEGATIVE)
    labels = [p.label for p in predictions]
    assert labels == ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)


def test_one_prediction_per_text_with_a_probability(model: Any) -> None:
    texts = ["Wow", "!!!", "x" * 5000, "C'était vraiment très bien", "😀", *POSITIVE]
    predictions = model.predict(texts)
    assert len(predictions) == len(texts)
    for prediction in predictions:
        assert type(prediction).__name__ == "Prediction"
        assert prediction.label in {"positive", "negative"}
        assert isinstance(prediction.score, float)
        assert 0.5 <= prediction.score <= 1.0  # the probability of the more likely label


def test_held_out_accuracy(example: tuple[ModuleType, Any]) -> None:
    train, model = example
    _, texts, _, labels = train.split(*train.load_dataset())
    size = model.max_batch_size  # as the server would batch them
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]
    predicted = [p.label for batch in batches for p in model.predict(batch)]
    accuracy = sum(p == label for p, label in zip(predicted, labels, strict=True)) / len(labels)
    assert accuracy >= MIN_HELD_OUT_ACCURACY


def test_ensure_model_keeps_an_existing_model(
    example: tuple[ModuleType, Any],
    model_path: Path,
) -> None:
    train, _ = example
    written = model_path.stat().st_mtime_ns
    assert train.ensure_model(model_path) == model_path
    assert model_path.stat().st_mtime_ns == written
    assert list(model_path.parent.iterdir()) == [model_path]  # no temporary file left behind


def test_importing_app_leaves_heavy_libraries_out() -> None:
    # The gateway imports app.py to read its types; it must not pay for the model's libraries.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(HERE / 'app.py')!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "heavy = {'onnxruntime', 'onnx', 'sklearn', 'skl2onnx', 'train'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service on a fresh clone's footing: its worker trains the model when it starts."""
    folder = tmp_path_factory.mktemp("served")
    env = {
        "SENTIMENT_MODEL_PATH": str(folder / "artifacts" / "sentiment.onnx"),
        "SCALESERVE_DATA_DIR": str(folder / "data"),  # not the job database of the cwd
    }
    with running_service(HERE, workers=1, env=env) as running:
        yield running


def test_served_outputs_come_back_in_order(service: Service, model: Any) -> None:
    texts = [text for pair in zip(POSITIVE, NEGATIVE, strict=True) for text in pair]
    response = httpx.post(service.base_url + PREDICT, json={"inputs": texts}, timeout=30)
    assert response.status_code == 200
    outputs = response.json()["outputs"]
    assert [o["label"] for o in outputs] == ["positive", "negative"] * len(POSITIVE)
    expected = [p.score for p in model.predict(texts)]  # trained apart, on the same data
    assert [o["score"] for o in outputs] == pytest.approx(expected, abs=1e-5)


def test_served_empty_text_is_422(service: Service) -> None:
    response = httpx.post(service.base_url + PREDICT, json={"inputs": ["fine", ""]}, timeout=30)
    assert response.status_code == 422
    assert ["body", "inputs", 1] in [e["loc"] for e in response.json()["errors"]]
