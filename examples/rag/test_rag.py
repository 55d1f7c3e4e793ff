"""The RAG example end to end: the three targets served together, documents ingested over
HTTP, and a question answered through the official OpenAI client, streamed, citing the
document that answers it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from scaleserve.testing import Service, running_service

HERE = Path(__file__).parent
EXAMPLES = HERE.parent
sys.path.insert(0, str(HERE))

from ingest import chunks, ingest  # noqa: E402


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    targets = [EXAMPLES / "embeddings", EXAMPLES / "textgen", HERE]
    with running_service(targets, env={"HF_HUB_OFFLINE": "1"}, auth=True) as running:
        yield running


@pytest.fixture(scope="module")
def chat(service: Service) -> Iterator[openai.OpenAI]:
    ingested = ingest(service.base_url, service.api_key, sorted((HERE / "docs").glob("*.md")))
    assert ingested >= 4
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key=service.api_key) as client:
        yield client


def test_chunks_keep_paragraphs_together_under_the_limit() -> None:
    text = "\n\n".join(["a" * 400, "b" * 100, "c" * 300])
    assert [len(c) for c in chunks(text)] == [501, 300]


def test_a_question_is_answered_citing_the_document_that_answers_it(
    chat: openai.OpenAI,
) -> None:
    question = [{"role": "user", "content": "How does a canary rollout promote a version?"}]
    stream = chat.chat.completions.create(
        model="rag", messages=question, stream=True, max_tokens=40
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    answer = "".join(pieces)
    assert pieces[0].startswith("Sources: [1] Shipping a new version #")
    assert len(answer) > len(pieces[0])  # the model's answer follows the citations


def test_a_non_streamed_answer_cites_too(chat: openai.OpenAI) -> None:
    question = [{"role": "user", "content": "What happens when a tenant goes over its quota?"}]
    reply = chat.chat.completions.create(model="rag", messages=question, max_tokens=20)
    content = reply.choices[0].message.content or ""
    assert content.startswith("Sources: [1] Tenants, keys and limits #")
