"""The OpenAI-compatible routes: ``/v1/embeddings``, ``/v1/chat/completions``,
``/v1/completions`` (``GET /v1/models`` is in ``routes.py``, in the same list shape).

A model serves them when it declares the task (``scaleserve.model.tasks``): embedding models
the first, text-generation models the other two. Everything goes through the broker, so
batching, bounds and deadlines are the native API's: embeddings and non-streaming
completions through ``submit`` (batched), streaming ones through ``stream``. Errors are
OpenAI's ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from scaleserve.api import openai_schemas as schemas
from scaleserve.api import openai_wire as wire
from scaleserve.api import protocol_route
from scaleserve.api.caller import Caller, caller_of
from scaleserve.api.routes import find_model
from scaleserve.api.streaming import Events, EventStream, model_chunks
from scaleserve.errors import InvalidInput, RequestError
from scaleserve.model.spec import ModelSpec
from scaleserve.model.tasks import Generation, GenerationChunk, Tally, Task
from scaleserve.observe import metrics
from scaleserve.queue.broker import Broker
from scaleserve.settings import GatewaySettings


class OpenAIApi:
    def __init__(
        self, specs: Sequence[ModelSpec], broker: Broker, settings: GatewaySettings
    ) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._broker = broker
        self._settings = settings

    async def embeddings(self, body: schemas.EmbeddingRequest, request: Request) -> Response:
        """Embed one text or a list of texts with an embedding model."""
        spec = self._find(body.model, Task.EMBEDDING)
        texts = [body.input] if isinstance(body.input, str) else body.input
        payloads = protocol_route.payloads(spec, texts, _at("input", len(texts)))
        deadline_s = self._deadline_s(spec, request)
        async with caller_of(request.scope).serving(spec.name, len(payloads)) as served:
            outputs = await self._broker.submit(spec.name, payloads, deadline_s)
            served.tokens = sum(wire.estimate_tokens(text) for text in texts)
        data = []
        for index, output in enumerate(outputs):
            vector = orjson.loads(output)
            if body.dimensions is not None and body.dimensions != len(vector):
                raise InvalidInput(
                    f"dimensions: model {spec.name!r} makes vectors of {len(vector)}",
                    [{"loc": ["body", "dimensions"], "msg": "not supported", "type": "value"}],
                )
            embedding = wire.base64_vector(vector) if body.encoding_format == "base64" else vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        prompt_tokens = sum(wire.estimate_tokens(text) for text in texts)
        metrics.TOKENS.labels(spec.name, "prompt").inc(prompt_tokens)
        usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        return wire.json_response(
            {"object": "list", "data": data, "model": spec.name, "usage": usage}
        )

    async def chat_completions(
        self, body: schemas.ChatCompletionRequest, request: Request
    ) -> Response:
        """A chat completion from a text-generation model; Server-Sent Events when
        ``stream`` is true."""
        spec = self._find(body.model, Task.TEXT_GENERATION)
        fields = {
            **body.sampling(),
            "messages": [m.plain() for m in body.messages],
            "max_tokens": body.max_completion_tokens or body.max_tokens,
        }
        payload = protocol_route.payloads(spec, [fields], _at("messages", 1))[0]
        head = wire.head("chatcmpl", "chat.completion", spec.name)
        deadline_s = self._deadline_s(spec, request)
        if body.stream:
            head["object"] = "chat.completion.chunk"
            form = wire.ChunkFormat(chat=True, include_usage=body.include_usage)
            caller = caller_of(request.scope)
            events = self._events(caller, spec, payload, deadline_s, head=head, form=form)
            return EventStream(events, wire.render_error, wire.error_event)
        generation = (await self._generate(request, spec, [payload], deadline_s))[0]
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": generation.text},
            "finish_reason": generation.finish_reason,
            "logprobs": None,
        }
        return wire.json_response({**head, "choices": [choice], "usage": wire.usage([generation])})

    async def completions(self, body: schemas.CompletionRequest, request: Request) -> Response:
        """A text completion of a prompt (or of each of a list of prompts, batched) from a
        text-generation model; Server-Sent Events when ``stream`` is true."""
        spec = self._find(body.model, Task.TEXT_GENERATION)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if body.stream and len(prompts) > 1:
            raise RequestError("a streamed completion takes one prompt")
        items = [{**body.sampling(), "prompt": p, "max_tokens": body.max_tokens} for p in prompts]
        payloads = protocol_route.payloads(spec, items, _at("prompt", len(items)))
        head = wire.head("cmpl", "text_completion", spec.name)
        deadline_s = self._deadline_s(spec, request)
        echo = prompts[0] if body.echo else ""
        if body.stream:
            form = wire.ChunkFormat(chat=False, include_usage=body.include_usage, echo=echo)
            caller = caller_of(request.scope)
            events = self._events(caller, spec, payloads[0], deadline_s, head=head, form=form)
            return EventStream(events, wire.render_error, wire.error_event)
        generations = await self._generate(request, spec, payloads, deadline_s)
        choices = [
            {
                "index": index,
                "text": (prompt if body.echo else "") + generation.text,
                "finish_reason": generation.finish_reason,
                "logprobs": None,
            }
            for index, (prompt, generation) in enumerate(zip(prompts, generations, strict=True))
        ]
        return wire.json_response({**head, "choices": choices, "usage": wire.usage(generations)})

    async def _generate(
        self, request: Request, spec: ModelSpec, payloads: list[bytes], deadline_s: float
    ) -> list[Generation]:
        async with caller_of(request.scope).serving(spec.name, len(payloads)) as served:
            outputs = await self._broker.submit(spec.name, payloads, deadline_s)
            generations: list[Generation] = [spec.output_adapter.validate_json(o) for o in outputs]
            counts = wire.usage(generations)
            served.tokens = int(counts["total_tokens"])
        _count_tokens(spec.name, counts)
        return generations

    async def _events(
        self,
        caller: Caller,
        spec: ModelSpec,
        payload: bytes,
        deadline_s: float,
        *,
        head: dict[str, Any],
        form: wire.ChunkFormat,
    ) -> Events:
        """The SSE events of one streamed completion, in OpenAI's chunk format."""
        tally = Tally()
        first = True
        stream = model_chunks(caller, self._broker, spec.name, payload, deadline_s)
        async with contextlib.aclosing(stream) as chunks:
            async for raw in chunks:
                chunk: GenerationChunk = spec.chunk_adapter.validate_json(raw)
                tally.add(chunk)
                if first or chunk.text:
                    yield wire.event({**head, "choices": [form.piece(chunk.text, first)]})
                    first = False
        yield wire.event({**head, "choices": [form.end(tally.finish_reason)]})
        usage = wire.usage([tally.result()])
        _count_tokens(spec.name, usage)
        if form.include_usage:
            yield wire.event({**head, "choices": [], "usage": usage})
        yield wire.DONE

    def _find(self, name: str, task: Task) -> ModelSpec:
        spec = find_model(self._specs, name)
        if spec.task is not task:
            declared = repr(spec.task.value) if spec.task else "none"
            raise RequestError(
                f"this route serves models with task {task.value!r}; "
                f"model {name!r} has task {declared}"
            )
        return spec

    def _deadline_s(self, spec: ModelSpec, request: Request) -> float:
        return protocol_route.timeout_s(request, spec.timeout_s, self._settings.max_timeout_s)


def build_router(
    specs: Sequence[ModelSpec], broker: Broker, settings: GatewaySettings
) -> APIRouter:
    api = OpenAIApi(specs, broker, settings)
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": schemas.ErrorBody} for code in (400, 404, 413, 415, 500, 503, 504)
    }
    router = APIRouter(
        prefix="/v1",
        tags=["openai"],
        route_class=protocol_route.protocol_route(wire.render_error, settings.max_body_bytes),
        responses=errors,
    )
    sse = {200: {"content": {"text/event-stream": {}}, "description": "Also SSE if `stream`"}}
    router.add_api_route(
        "/embeddings",
        api.embeddings,
        methods=["POST"],
        responses={200: {"model": schemas.EmbeddingResponse}},
    )
    router.add_api_route(
        "/chat/completions",
        api.chat_completions,
        methods=["POST"],
        responses={200: {"model": schemas.ChatCompletion, **sse[200]}},
    )
    router.add_api_route(
        "/completions",
        api.completions,
        methods=["POST"],
        responses={200: {"model": schemas.Completion, **sse[200]}},
    )
    return router


def _at(param: str, count: int) -> Callable[[int], list[Any]]:
    """Where item ``index`` sits in an OpenAI request: ``param``, indexed when a list."""
    return lambda index: ["body", param, *([index] if count > 1 else [])]


def _count_tokens(model: str, usage: dict[str, int]) -> None:
    metrics.TOKENS.labels(model, "prompt").inc(usage["prompt_tokens"])
    metrics.TOKENS.labels(model, "completion").inc(usage["completion_tokens"])
