"""Request and response shapes of the OpenAI-compatible routes (the subset scaleserve serves).

Requests ignore fields they do not know, as OpenAI-compatible servers do, so that clients
sending newer options still work; what they know they validate.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scaleserve.model.tasks import ChatMessage, FinishReason

PositiveInt = Annotated[int, Field(ge=1)]
Temperature = Annotated[float, Field(ge=0, le=2)]
TopP = Annotated[float, Field(gt=0, le=1)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(description="A served model's name, as listed by GET /v1/models.")


class EmbeddingRequest(_Request):
    input: str | Annotated[list[str], Field(min_length=1)] = Field(
        description="One text, or a list of texts (token arrays are not accepted)."
    )
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="base64: the little-endian float32 bytes of each vector."
    )
    dimensions: PositiveInt | None = Field(
        default=None, description="Must equal the model's own dimensions when given."
    )
    user: str | None = None


class StreamOptions(BaseModel):
    include_usage: bool = Field(
        default=False, description="Send a last chunk with `usage` and no choices."
    )


class _Generation(_Request):
    temperature: Temperature | None = None
    top_p: TopP | None = None
    n: Annotated[int, Field(ge=1, le=1, description="Only 1 is supported.")] = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = None
    user: str | None = None

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def sampling(self) -> dict[str, Any]:
        """The sampling fields the client set, for a ``GenerationRequest``."""
        fields: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": [self.stop] if isinstance(self.stop, str) else self.stop,
        }
        return {k: v for k, v in fields.items() if v is not None}


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def plain(self) -> ChatMessage:
        if isinstance(self.content, list):
            text = "".join(part.text for part in self.content)
        else:
            text = self.content or ""
        return ChatMessage(role=self.role, content=text)


class ChatCompletionRequest(_Generation):
    messages: Annotated[list[ChatMessageIn], Field(min_length=1)]
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None


class CompletionRequest(_Generation):
    prompt: str | Annotated[list[str], Field(min_length=1)]
    max_tokens: PositiveInt | None = 16
    echo: bool = Field(default=False, description="Put the prompt before the completion.")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: FinishReason
    logprobs: None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
