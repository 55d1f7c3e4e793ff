"""The OpenAI-compatible routes, driven by the official ``openai`` package (``base_url``
pointed at real services): the textgen and embeddings examples, and the fixture models."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest

from scaleserve.testing import Service
from tests.helpers import metric_value

CHAT = [{"role": "user", "content": "Tell me about the lighthouse."}]


@pytest.fixture(scope="module")
def textgen(textgen_service: Service) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=textgen_service.base_url + "/v1", api_key="unused") as client:
        yield client


@pytest.fixture(scope="module")
def embedder(embeddings_service: Service) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=embeddings_service.base_url + "/v1", api_key="unused") as client:
        yield client


def test_models_are_listed(textgen: openai.OpenAI) -> None:
    assert [model.id for model in textgen.models.list()] == ["textgen"]
    assert textgen.models.retrieve("textgen").owned_by == "scaleserve"


def test_chat_completion_with_usage(textgen: openai.OpenAI) -> None:
    completion = textgen.chat.completions.create(
        model="textgen", messages=CHAT, max_tokens=40, temperature=0
    )
    choice = completion.choices[0]
    assert completion.object == "chat.completion" and completion.model == "textgen"
    assert choice.message.role == "assistant" and choice.message.content
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == len(choice.message.content)  # a character is a token
    assert usage.prompt_tokens == len("user: Tell me about the lighthouse.\nassistant:")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert choice.finish_reason in {"stop", "length"}


def test_streamed_chat_reassembles_to_the_same_text(textgen: openai.OpenAI) -> None:
    asked = {"model": "textgen", "messages": CHAT, "max_tokens": 60, "seed": 7}
    whole = textgen.chat.completions.create(**asked)  # type: ignore[call-overload]
    chunks = list(
        textgen.chat.completions.create(
            **asked, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in with_choices)
    assert text == whole.choices[0].message.content
    assert len(with_choices) > 10  # one chunk per character, not one at the end
    assert with_choices[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage == whole.usage


def test_streamed_chat_without_usage_sends_none(textgen: openai.OpenAI) -> None:
    chunks = list(
        textgen.chat.completions.create(model="textgen", messages=CHAT, max_tokens=5, stream=True)
    )
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason is not None


def test_completions_batch_a_list_of_prompts(textgen: openai.OpenAI) -> None:
    prompts = ["The keeper", "The baker", "The sea"]
    completion = textgen.completions.create(
        model="textgen", prompt=prompts, max_tokens=12, temperature=0
    )
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    for prompt, choice in zip(prompts, completion.choices, strict=True):
        alone = textgen.completions.create(
            model="textgen", prompt=prompt, max_tokens=12, temperature=0
        )
        assert choice.text == alone.choices[0].text
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == sum(len(p) for p in prompts)


def test_streamed_completion_with_echo_and_stop(textgen: openai.OpenAI) -> None:
    whole = textgen.completions.create(
        model="textgen", prompt="The keeper", max_tokens=30, temperature=0
    )
    stop = whole.choices[0].text[5:8]
    stream = textgen.completions.create(
        model="textgen",
        prompt="The keeper",
        max_tokens=30,
        temperature=0,
        echo=True,
        stop=stop,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].text for chunk in chunks)
    assert text.startswith("The keeper") and stop not in text[len("The keeper") :]
    assert text == "The keeper" + whole.choices[0].text[: whole.choices[0].text.index(stop)]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_embeddings_float_and_base64(embedder: openai.OpenAI, embeddings_service: Service) -> None:
    texts = ["A cat sits on the mat.", "Interest rates rose again."]
    as_base64 = embedder.embeddings.create(model="embeddings", input=texts)  # client default
    as_floats = embedder.embeddings.create(model="embeddings", input=texts, encoding_format="float")
    native = httpx.post(
        embeddings_service.base_url + "/v1/models/embeddings/predict",
        json={"inputs": texts},
        timeout=60,
    ).json()["outputs"]
    for result in (as_base64, as_floats):
        assert [item.index for item in result.data] == [0, 1]
        np.testing.assert_allclose(
            [item.embedding for item in result.data], np.array(native, np.float32), atol=1e-6
        )
        assert result.usage.prompt_tokens == 12 and result.usage.total_tokens == 12
    single = embedder.embeddings.create(model="embeddings", input="One text.", dimensions=384)
    assert len(single.data) == 1 and len(single.data[0].embedding) == 384


def test_base64_is_little_endian_float32(embeddings_service: Service) -> None:
    response = httpx.post(
        embeddings_service.base_url + "/v1/embeddings",
        json={"model": "embeddings", "input": "hello", "encoding_format": "base64"},
        timeout=60,
    )
    raw = base64.b64decode(response.json()["data"][0]["embedding"])
    vector = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(vector) == 384 and abs(sum(v * v for v in vector) - 1) < 1e-3


def test_tokens_are_counted_in_the_metrics(
    textgen: openai.OpenAI, textgen_service: Service
) -> None:
    def completion_tokens() -> float:
        text = httpx.get(textgen_service.base_url + "/metrics").text
        return metric_value(
            text, "scaleserve_tokens_total", model="textgen", direction="completion"
        )

    before = completion_tokens()
    textgen.completions.create(model="textgen", prompt="The", max_tokens=9, temperature=0)
    assert completion_tokens() >= before + 1


def test_errors_have_the_openai_shape(textgen: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        textgen.chat.completions.create(model="nope", messages=CHAT)
    assert unknown.value.code == "unknown_model"
    with pytest.raises(openai.BadRequestError) as wrong_task:
        textgen.embeddings.create(model="textgen", input="x")
    assert "task 'embedding'" in wrong_task.value.message
    with pytest.raises(openai.BadRequestError) as too_many:
        textgen.chat.completions.create(model="textgen", messages=CHAT, n=2)
    assert too_many.value.param == "n"
    with pytest.raises(openai.BadRequestError) as no_messages:
        textgen.chat.completions.create(model="textgen", messages=[])
    assert no_messages.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as hot:
        textgen.chat.completions.create(model="textgen", messages=CHAT, temperature=5)
    assert hot.value.param == "temperature"
    with pytest.raises(openai.BadRequestError):
        textgen.completions.create(model="textgen", prompt=["a", "b"], stream=True)


def test_raw_errors_are_json_with_the_openai_shape(textgen_service: Service) -> None:
    url = textgen_service.base_url + "/v1/chat/completions"
    for body in (b"{not json", b"[]", b'{"model": "textgen"}'):
        response = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"


def test_embedding_dimensions_must_match(embedder: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        embedder.embeddings.create(model="embeddings", input="x", dimensions=128)
    assert caught.value.param == "dimensions"
