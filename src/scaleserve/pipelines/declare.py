"""What a user writes: a ``Pipeline`` subclass with its steps.

    class Answer(scaleserve.Pipeline):
        name = "answer"

        def question(self, request: Ask) -> str:          # ``request``: the pipeline's input
            return request.text

        vector = scaleserve.ModelStep("embeddings", source="question")

        async def passages(self, vector: list[float], context: StepContext) -> list[str]:
            hits = await context.search("docs", vector, k=3)
            return [h.payload["text"] for h in hits]

        def reply(self, request: Ask, passages: list[str]) -> Reply: ...

A method is a function step; its parameters name the steps (or ``request``) whose outputs
it takes, so fan-out and fan-in are just parameters, and its annotations are checked
against what those steps give. A ``ModelStep`` sends one step's output to a served model.
The step named by ``output`` (default: the last declared) is the pipeline's answer. A
function step runs in the gateway: keep it light (async for I/O, no heavy compute).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from scaleserve.model.base import Model
from scaleserve.vectors.records import Hit
from scaleserve.vectors.store import Query, VectorStore

REQUEST = "request"
"""The parameter name that takes the pipeline's own input."""
CONTEXT = "context"
"""The parameter name that takes the ``StepContext``."""


@dataclass(frozen=True)
class ModelStep:
    """A step that sends the output of step ``source`` (or ``request``) to served ``model``."""

    model: str
    source: str = REQUEST


@dataclass(frozen=True)
class StepContext:
    """What a function step may use besides its inputs: who is asking, and their vectors."""

    tenant: str
    vectors: VectorStore | None = None

    async def search(
        self, collection: str, vector: Sequence[float], k: int = 10, filter: Any = None
    ) -> list[Hit]:
        """The ``k`` nearest points of the tenant's ``collection`` passing ``filter``."""
        if self.vectors is None:
            raise RuntimeError("this service has no vector store")
        query = Query(list(vector), k, filter)
        return await self.vectors.query(self.tenant, collection, query)


class Pipeline(Model):
    """Subclass it and declare steps (see the module's docstring). The model settings that
    apply: ``name``, ``version``, ``timeout_s``, ``max_items_per_request``, ``example_input``
    and ``task``; batching happens in each model step's own workers."""

    is_pipeline: ClassVar[bool] = True
    """Marks pipelines apart from models (the model loader serves models only)."""
    output: ClassVar[str] = ""
    """The step whose output is the answer; default: the last one declared."""
    preface: ClassVar[str] = ""
    """A step giving text put before the answer's ``text`` (a streamed answer's first
    chunk): a RAG pipeline cites its sources so. Empty: none."""
