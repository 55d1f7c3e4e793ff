"""Tasks: what a model is for, so the standard APIs know how to call it.

A model sets ``task`` to one of these to be served by the OpenAI-compatible routes as well
as its native ones, and ``ModelSpec`` checks that its types fit the task. A model that
declares none gets the task its types fit, if any:

``"embedding"`` (``POST /v1/embeddings``)
    ``predict(self, batch: list[str]) -> list[list[float]]``: one vector per text.
``"text-generation"`` (``POST /v1/chat/completions``, ``POST /v1/completions``)
    ``predict(self, batch: list[GenerationRequest]) -> list[Generation]`` and
    ``predict_stream(self, item: GenerationRequest) -> Iterator[GenerationChunk]`` (or an
    async iterator). The model counts its own tokens: only it knows its tokenizer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Task(enum.StrEnum):
    EMBEDDING = "embedding"
    TEXT_GENERATION = "text-generation"


FinishReason = Literal["stop", "length"]
"""``stop``: the model ended the text (or met a stop sequence); ``length``: it hit max_tokens."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: str = Field(description="system, user, assistant, ...")
    content: str


class GenerationRequest(BaseModel):
    """What a text-generation model is asked: a prompt, or chat messages, and how to sample."""

    model_config = ConfigDict(frozen=True)

    prompt: str = ""
    messages: list[ChatMessage] | None = Field(
        default=None, description="A chat; when set, the model answers as the assistant."
    )
    max_tokens: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Most tokens to generate; None: the model's own limit."
    )
    temperature: float = Field(default=1.0, ge=0, le=2, description="0 picks the likeliest.")
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: list[str] = Field(default_factory=list, max_length=4)
    seed: int | None = None

    def text(self) -> str:
        """The prompt as plain text: ``prompt``, or each message on its own line as
        ``role: content`` followed by ``assistant:``. Models with a chat template of their
        own read ``messages`` instead."""
        if self.messages is None:
            return self.prompt
        lines = [f"{m.role}: {m.content}" for m in self.messages]
        return "\n".join([*lines, "assistant:"])


class GenerationChunk(BaseModel):
    """A piece of generated text, yielded by ``predict_stream`` as soon as it exists."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    tokens: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Tokens in this chunk; None: 1 when it has text, else 0."
    )
    prompt_tokens: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Tokens of the prompt, reported once (by any chunk)."
    )
    finish_reason: FinishReason | None = Field(
        default=None, description="Why generation ended; set on the last chunk."
    )

    @property
    def token_count(self) -> int:
        if self.tokens is not None:
            return self.tokens
        return 1 if self.text else 0


class Generation(BaseModel):
    """A whole generated text, returned by ``predict``."""

    model_config = ConfigDict(frozen=True)

    text: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    finish_reason: FinishReason = "stop"

    @classmethod
    def collect(cls, chunks: Iterable[GenerationChunk]) -> Generation:
        """The generation that ``chunks`` add up to (``predict`` written over
        ``predict_stream``)."""
        tally = Tally()
        for chunk in chunks:
            tally.add(chunk)
        return tally.result()


class Tally:
    """Adds up a stream of chunks: text, token counts, finish reason."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.finish_reason: FinishReason = "stop"

    def add(self, chunk: GenerationChunk) -> None:
        self._parts.append(chunk.text)
        self.completion_tokens += chunk.token_count
        if chunk.prompt_tokens is not None:
            self.prompt_tokens = chunk.prompt_tokens
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason

    def result(self) -> Generation:
        return Generation(
            text="".join(self._parts),
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            finish_reason=self.finish_reason,
        )
