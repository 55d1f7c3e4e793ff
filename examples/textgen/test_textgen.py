"""The textgen example: its model in-process, then served and streamed to the openai client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from scaleserve.model.loader import load_specs
from scaleserve.model.tasks import GenerationRequest
from scaleserve.testing import running_service

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def model() -> Any:
    """The model class as ``scaleserve serve`` finds it, loaded in this process."""
    [spec] = load_specs(str(HERE))
    loaded = spec.model_class()
    loaded.load()
    return loaded


def test_greedy_generation_is_deterministic_and_counted(model: Any) -> None:
    request = GenerationRequest(prompt="The keeper", temperature=0, max_tokens=40)
    first, again = model.predict([request, request])
    assert first == again
    assert first.completion_tokens == len(first.text) == 40
    assert first.prompt_tokens == len("The keeper")
    assert first.finish_reason == "length"


def test_a_seed_makes_sampling_repeatable(model: Any) -> None:
    def sample(seed: int) -> str:
        request = GenerationRequest(prompt="The baker", seed=seed, max_tokens=60)
        return str(model.predict([request])[0].text)

    assert sample(1) == sample(1)
    assert len({sample(seed) for seed in range(5)}) > 1


def test_stop_sequences_end_the_text_before_them(model: Any) -> None:
    free = model.predict([GenerationRequest(prompt="The sea", temperature=0, max_tokens=60)])[0]
    stop = free.text[10:13]
    stopped = model.predict(
        [GenerationRequest(prompt="The sea", temperature=0, max_tokens=60, stop=[stop])]
    )[0]
    assert stopped.text == free.text[: free.text.index(stop)]
    assert stopped.finish_reason == "stop"


def test_chunks_are_single_characters_then_the_finish(model: Any) -> None:
    chunks = list(model.predict_stream(GenerationRequest(prompt="The", max_tokens=5, seed=3)))
    assert [len(c.text) for c in chunks[:-1]] == [1] * (len(chunks) - 1)
    assert chunks[-1].finish_reason is not None
    assert chunks[-1].prompt_tokens == 3


def test_served_chat_streams_with_the_openai_client() -> None:
    with running_service(HERE) as service:
        client = openai.OpenAI(base_url=service.base_url + "/v1", api_key="unused")
        with client:
            stream = client.chat.completions.create(
                model="textgen",
                messages=[{"role": "user", "content": "Tell me about the sea."}],
                max_tokens=50,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == len(text) > 0
