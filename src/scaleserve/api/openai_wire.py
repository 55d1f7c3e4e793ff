"""OpenAI's wire shapes: error bodies, streamed chunks, usage, base64 vectors."""

from __future__ import annotations

import base64
import re
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from scaleserve.api.problems import problem_body
from scaleserve.api.streaming import sse_event
from scaleserve.errors import InvalidInput, ScaleserveError
from scaleserve.model.tasks import Generation

DONE = b"data: [DONE]\n\n"
_WORDS = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """Prompt tokens of a model that does not count its own (embedding models): words and
    punctuation marks, close to what a WordPiece or BPE tokenizer makes of English."""
    return len(_WORDS.findall(text))


@dataclass(frozen=True)
class ChunkFormat:
    """How a streamed completion looks: each chunk's choice holds a chat delta or a
    completion's text (after the prompt, on the first chunk, when ``echo`` asks for it);
    ``include_usage`` adds a last chunk with the usage."""

    chat: bool
    include_usage: bool
    echo: str = ""

    def piece(self, text: str, first: bool) -> dict[str, Any]:
        if self.chat:
            delta = {"role": "assistant", "content": text} if first else {"content": text}
            return {"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}
        text = self.echo + text if first else text
        return {"index": 0, "text": text, "finish_reason": None, "logprobs": None}

    def end(self, reason: str) -> dict[str, Any]:
        body: dict[str, Any] = {"delta": {}} if self.chat else {"text": ""}
        return {"index": 0, **body, "finish_reason": reason, "logprobs": None}


def render_error(error: ScaleserveError | None) -> Response:
    """OpenAI's error body, with the native API's status (400 where it says 422)."""
    status, body, headers = problem_body(error)
    if status == 422:
        status = 400
    kept = [(k, v) for k, v in headers if k != b"content-type"]
    content = _error_json(error, status, orjson.loads(body))
    response = Response(content, status, media_type="application/json")
    response.raw_headers = [*response.raw_headers, *kept]
    return response


def error_event(error: ScaleserveError | None) -> bytes:
    status, body, _ = problem_body(error)
    return sse_event(_error_json(error, status, orjson.loads(body)))


def _error_json(error: ScaleserveError | None, status: int, problem: dict[str, Any]) -> bytes:
    param = None
    if isinstance(error, InvalidInput) and error.errors:
        loc = [str(part) for part in error.errors[0]["loc"] if part != "body"]
        param = ".".join(loc) or None
    kind = "invalid_request_error" if status < 500 else "server_error"
    detail = {"message": problem["detail"], "type": kind, "param": param, "code": problem["code"]}
    return orjson.dumps({"error": detail})


def head(prefix: str, kind: str, model: str) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
    }


def usage(generations: list[Generation]) -> dict[str, int]:
    prompt = sum(g.prompt_tokens for g in generations)
    completion = sum(g.completion_tokens for g in generations)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def base64_vector(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def event(data: dict[str, Any]) -> bytes:
    return sse_event(orjson.dumps(data))


def json_response(data: dict[str, Any]) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")
