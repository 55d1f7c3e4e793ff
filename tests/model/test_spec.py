from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel

import scaleserve
from scaleserve.errors import ConfigError
from scaleserve.model.spec import ModelSpec


class In(BaseModel):
    text: str


def test_item_types_come_from_predict_annotations() -> None:
    class Typed(scaleserve.Model):
        name = "typed"

        def predict(self, batch: list[In]) -> list[float]:
            return [0.0] * len(batch)

    spec = ModelSpec.from_class(Typed)
    assert spec.input_type is In
    assert spec.output_type is float
    assert not spec.is_async


def test_async_predict_and_sequence_annotations() -> None:
    class Async(scaleserve.Model):
        async def predict(self, batch: Sequence[str]) -> list[str]:
            return list(batch)

    spec = ModelSpec.from_class(Async)
    assert spec.name == "async"  # defaults to the lowercased class name
    assert spec.input_type is str
    assert spec.is_async


def test_unannotated_items_are_any_json() -> None:
    class Loose(scaleserve.Model):
        def predict(self, batch):  # type: ignore[no-untyped-def]
            return batch

    spec = ModelSpec.from_class(Loose)
    assert spec.input_type is Any and spec.output_type is Any


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("name", "../etc/passwd", "name"),
        ("name", "Has Spaces", "name"),
        ("max_batch_size", 0, "max_batch_size"),
        ("max_wait_ms", -1, "max_wait_ms"),
        ("workers", 0, "workers"),
        ("timeout_s", 0, "timeout_s"),
        ("version", "", "version"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(
    attribute: str, value: Any, message: str
) -> None:
    class Bad(scaleserve.Model):
        def predict(self, batch: list[str]) -> list[str]:
            return batch

    setattr(Bad, attribute, value)
    with pytest.raises(ConfigError, match=message):
        ModelSpec.from_class(Bad)


def test_predict_must_be_implemented() -> None:
    class Empty(scaleserve.Model):
        pass

    with pytest.raises(ConfigError, match="does not implement predict"):
        ModelSpec.from_class(Empty)


def test_batch_annotation_must_be_a_list() -> None:
    class Scalar(scaleserve.Model):
        def predict(self, batch: str) -> list[str]:  # type: ignore[override]
            return [batch]

    with pytest.raises(ConfigError, match=r"list\[T\]"):
        ModelSpec.from_class(Scalar)


def test_with_workers_overrides_the_count() -> None:
    class One(scaleserve.Model):
        def predict(self, batch: list[str]) -> list[str]:
            return batch

    assert ModelSpec.from_class(One).with_workers(3).workers == 3
