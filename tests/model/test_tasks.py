"""``predict_stream`` and ``task`` in the deployment spec, and the text-generation shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from typing import Annotated, Any

import pytest
from pydantic import Field

import scaleserve
from scaleserve.errors import ConfigError
from scaleserve.model.spec import ModelSpec
from scaleserve.model.tasks import (
    ChatMessage,
    Generation,
    GenerationChunk,
    GenerationRequest,
    Task,
)

Vector = Annotated[list[float], Field(min_length=3, max_length=3)]


class Plain(scaleserve.Model):
    def predict(self, batch: list[str]) -> list[str]:
        return batch


class SyncStream(Plain):
    def predict_stream(self, item: str) -> Iterator[int]:
        yield len(item)


class AsyncStream(Plain):
    async def predict_stream(self, item: str) -> AsyncIterator[bytes]:
        yield item.encode()


class GeneratorStream(Plain):
    def predict_stream(self, item: str) -> Generator[float, None, None]:
        yield 1.0


class Untyped(Plain):
    def predict_stream(self, item):  # type: ignore[no-untyped-def]
        yield item


class Embedder(scaleserve.Model):
    def predict(self, batch: list[str]) -> list[Vector]:
        return [[0.0, 0.0, 1.0] for _ in batch]


class Writer(scaleserve.Model):
    def predict(self, batch: list[GenerationRequest]) -> list[Generation]:
        return [Generation.collect(self.predict_stream(r)) for r in batch]

    def predict_stream(self, item: GenerationRequest) -> Iterator[GenerationChunk]:
        yield GenerationChunk(text=item.text())


@pytest.mark.parametrize(
    ("model_class", "chunk_type"),
    [(SyncStream, int), (AsyncStream, bytes), (GeneratorStream, float), (Untyped, Any)],
)
def test_chunk_type_comes_from_the_annotation(
    model_class: type[scaleserve.Model], chunk_type: Any
) -> None:
    spec = ModelSpec.from_class(model_class)
    assert spec.streams and spec.chunk_type is chunk_type


def test_a_model_without_predict_stream_does_not_stream() -> None:
    spec = ModelSpec.from_class(Plain)
    assert not spec.streams and spec.chunk_type is None and spec.task is None


def test_predict_stream_must_take_the_item_type_of_predict() -> None:
    class Mismatch(Plain):
        def predict_stream(self, item: int) -> Iterator[int]:
            yield item

    with pytest.raises(ConfigError, match="same item type"):
        ModelSpec.from_class(Mismatch)


@pytest.mark.parametrize("annotation", [int, list[int]])
def test_predict_stream_must_return_an_iterator(annotation: Any) -> None:
    class Bad(Plain):
        def predict_stream(self, item: str) -> Any:
            return iter([item])

    Bad.predict_stream.__annotations__["return"] = annotation
    with pytest.raises(ConfigError, match="Iterator"):
        ModelSpec.from_class(Bad)


def test_tasks_are_detected_from_the_types() -> None:
    assert ModelSpec.from_class(Embedder).task is Task.EMBEDDING
    assert ModelSpec.from_class(Writer).task is Task.TEXT_GENERATION
    assert ModelSpec.from_class(SyncStream).task is None


def test_a_declared_task_must_fit_the_types() -> None:
    class Declared(Embedder):
        task = "embedding"

    assert ModelSpec.from_class(Declared).task is Task.EMBEDDING

    class NotAnEmbedder(Plain):
        task = "embedding"

    with pytest.raises(ConfigError, match="list\\[str\\]\\) -> list\\[list\\[float\\]\\]"):
        ModelSpec.from_class(NotAnEmbedder)

    class NoStream(scaleserve.Model):
        task = "text-generation"

        def predict(self, batch: list[GenerationRequest]) -> list[Generation]:
            return []

    with pytest.raises(ConfigError, match="predict_stream"):
        ModelSpec.from_class(NoStream)

    class Unknown(Plain):
        task = "translation"

    with pytest.raises(ConfigError, match="task"):
        ModelSpec.from_class(Unknown)


def test_a_generation_adds_up_its_chunks() -> None:
    chunks = [
        GenerationChunk(text="ab", tokens=2),
        GenerationChunk(text="c"),
        GenerationChunk(),
        GenerationChunk(prompt_tokens=5, finish_reason="length"),
    ]
    assert Generation.collect(chunks) == Generation(
        text="abc", prompt_tokens=5, completion_tokens=3, finish_reason="length"
    )
    assert Generation.collect([]).finish_reason == "stop"


def test_a_chat_becomes_a_plain_prompt() -> None:
    chat = GenerationRequest(
        messages=[
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Hi"),
        ]
    )
    assert chat.text() == "system: Be brief.\nuser: Hi\nassistant:"
    assert GenerationRequest(prompt="Once").text() == "Once"
