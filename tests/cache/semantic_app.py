"""A semantic-cached model beside the embeddings example that embeds its texts."""

from __future__ import annotations

import importlib.util
from itertools import count
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, StringConstraints

import scaleserve
from scaleserve.cache import CachePolicy

_EXAMPLE = Path(__file__).parents[2] / "examples" / "embeddings" / "app.py"
_spec = importlib.util.spec_from_file_location("scaleserve_test_embeddings_example", _EXAMPLE)
assert _spec is not None and _spec.loader is not None
_example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_example)
Embeddings = _example.Embeddings

Question = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class Reply(BaseModel):
    answer: str
    n: int


class Answers(scaleserve.Model):
    """Answers a question with the text it was asked and a running count."""

    name = "answers"
    max_batch_size = 8
    cache = CachePolicy(mode="semantic", embedding_model="embeddings")

    def load(self) -> None:
        self.counter = count(1)

    def predict(self, batch: list[Question]) -> list[Reply]:
        return [Reply(answer=f"re: {q}", n=next(self.counter)) for q in batch]


class Prompt(BaseModel):
    prompt: str
    temperature: float = 0.0


class Chat(scaleserve.Model):
    """Object items: only ``prompt`` is compared by meaning, the rest must match exactly."""

    name = "chat"
    cache = CachePolicy(mode="semantic", embedding_model="embeddings", text_field="prompt")

    def load(self) -> None:
        self.counter = count(1)

    def predict(self, batch: list[Prompt]) -> list[Reply]:
        return [
            Reply(answer=f"re: {p.prompt} @{p.temperature}", n=next(self.counter)) for p in batch
        ]


models = [Embeddings, Answers, Chat]
