"""RAG: answer a question from your own documents, citing them, as one served endpoint.

The ``rag`` pipeline embeds the question with the ``embeddings`` model, retrieves the
nearest chunks from the tenant's ``docs`` collection (a metadata filter keeps them to
English), prompts the ``textgen`` model with them, and streams the answer through the
OpenAI-compatible chat API, its first chunk citing the sources. Serve it with the two
models it uses, and ingest documents with ``ingest.py``:

    scaleserve serve examples/embeddings examples/textgen examples/rag
    python examples/rag/ingest.py --key $KEY examples/rag/docs/*.md

The toy ``textgen`` model writes nonsense in the style of its corpus; the retrieval, the
prompt and the citations are the point. Put a real generation model in its place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

import scaleserve
from scaleserve.model.tasks import GenerationRequest

COLLECTION = "docs"
PASSAGES = 3
ONLY_ENGLISH: dict[str, Any] = {"lang": "en"}


class Passage(BaseModel):
    title: str
    chunk: int
    text: str
    score: float


def _passage(point_id: str, score: float, payload: dict[str, Any]) -> Passage:
    return Passage(
        title=str(payload.get("title", point_id)),
        chunk=int(payload.get("chunk", 0)),
        text=str(payload.get("text", "")),
        score=score,
    )


class Rag(scaleserve.Pipeline):
    """Answers a chat from the tenant's documents, citing them."""

    name = "rag"
    task = "text-generation"
    preface = "sources"
    timeout_s = 60.0

    def question(self, request: GenerationRequest) -> str:
        users = [m.content for m in request.messages or [] if m.role == "user"]
        return users[-1] if users else request.prompt

    vector = scaleserve.ModelStep("embeddings", source="question")

    async def passages(self, vector: list[float], context: scaleserve.StepContext) -> list[Passage]:
        hits = await context.search(COLLECTION, vector, k=PASSAGES, filter=ONLY_ENGLISH)
        return [_passage(h.id, h.score, h.payload or {}) for h in hits]

    def prompt(self, request: GenerationRequest, passages: list[Passage]) -> GenerationRequest:
        context = "\n".join(f"[{i}] {p.text}" for i, p in enumerate(passages, start=1))
        question = self.question(request)
        prompt = f"Answer from the context.\n\nContext:\n{context}\n\nQ: {question}\nA:"
        return request.model_copy(update={"prompt": prompt, "messages": None})

    def sources(self, passages: list[Passage]) -> str:
        cited = "; ".join(f"[{i}] {p.title} #{p.chunk}" for i, p in enumerate(passages, 1))
        return f"Sources: {cited}\n\n" if passages else "Sources: none found\n\n"

    answer = scaleserve.ModelStep("textgen", source="prompt")
