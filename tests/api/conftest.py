"""Real services for the protocol tests: the examples, and the streaming fixture models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaleserve.testing import Service, running_service

ROOT = Path(__file__).parents[2]
STREAM_APP = ROOT / "tests" / "fixtures" / "stream_app.py"


@pytest.fixture(scope="session", params=["embedded", "redis"])
def stream_service(request: pytest.FixtureRequest) -> Iterator[Service]:
    """The streaming models, served on the embedded queue and on Redis."""
    env = {}
    if request.param == "redis":
        env = {
            "SCALESERVE_REDIS_URL": request.getfixturevalue("redis_url"),
            "SCALESERVE_REDIS_PREFIX": f"sstest-{uuid.uuid4().hex[:12]}",
        }
    with running_service(STREAM_APP, env=env) as running:
        yield running


@pytest.fixture(scope="session")
def echo_service() -> Iterator[Service]:
    with running_service(ROOT / "examples" / "echo") as running:
        yield running


@pytest.fixture(scope="session")
def embeddings_service() -> Iterator[Service]:
    with running_service(ROOT / "examples" / "embeddings", env={"HF_HUB_OFFLINE": "1"}) as running:
        yield running


@pytest.fixture(scope="session")
def sentiment_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # Its own model file: training it here cannot race the example's own tests.
    model_path = tmp_path_factory.mktemp("sentiment") / "sentiment.onnx"
    env = {"SENTIMENT_MODEL_PATH": str(model_path)}
    with running_service(ROOT / "examples" / "sentiment", env=env) as running:
        yield running


@pytest.fixture(scope="session")
def textgen_service() -> Iterator[Service]:
    with running_service(ROOT / "examples" / "textgen") as running:
        yield running
