"""Half precision is a model's option: used on a GPU, and on a CPU a float32 fallback that
the worker's log states."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch

import scaleserve
from scaleserve.model.spec import ModelSpec
from scaleserve.testing import running_service
from scaleserve.worker import runtime

APP = Path(__file__).parents[1] / "fixtures" / "precision_app.py"


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    runtime.configure_precision("", False)


def test_a_model_that_asks_for_half_precision_gets_it_on_a_gpu_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime.configure_precision("half-asked", True)
    with caplog.at_level(logging.WARNING):
        assert scaleserve.use_half_precision(torch.device("cuda"))
        assert scaleserve.torch_dtype(torch.device("cuda")) == torch.float16
        assert not scaleserve.use_half_precision(torch.device("cpu"))
        assert scaleserve.torch_dtype(torch.device("cpu")) == torch.float32
    fallbacks = [r for r in caplog.records if "asks for half precision" in r.getMessage()]
    assert len(fallbacks) == 1  # said once, not per call


def test_a_model_that_does_not_ask_runs_in_float32_even_on_a_gpu() -> None:
    runtime.configure_precision("plain", False)
    assert not scaleserve.use_half_precision(torch.device("cuda"))
    assert scaleserve.torch_dtype(torch.device("cuda")) == torch.float32


class _Plain(scaleserve.Model):
    name = "plain"

    def predict(self, batch: list[int]) -> list[int]:
        return batch


def test_the_option_is_part_of_the_spec_and_off_by_default() -> None:
    from tests.fixtures.precision_app import HalfAsked

    assert ModelSpec.from_class(HalfAsked).half_precision
    assert not ModelSpec.from_class(_Plain).half_precision


def test_a_cpu_worker_serves_a_half_precision_model_in_float32_and_says_so() -> None:
    with running_service(f"{APP}:HalfAsked") as service:
        answer = httpx.post(
            f"{service.base_url}/v1/models/half-asked/predict",
            json={"inputs": [[1, 2, 3, 4]]},
            timeout=60,
        )
        log = service.logs()
    assert answer.status_code == 200, answer.text
    expected = "float16" if torch.cuda.is_available() else "float32"
    assert answer.json()["outputs"] == [f"10 {expected}"]
    if not torch.cuda.is_available():
        assert "'half-asked' asks for half precision, but this worker has no CUDA device" in log
