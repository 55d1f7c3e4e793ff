"""Textgen: a tiny character-level language model that streams its text as it writes it.

An n-gram model (see ``lm.py``) trained at load, in a fraction of a second, on the short
stories in ``corpus.txt``: nothing is downloaded and it runs anywhere. It writes nonsense
in the corpus's style; the point is the path, not the prose. One character is one token.
It declares ``task = "text-generation"``, so the OpenAI-compatible routes serve it:
``POST /v1/chat/completions`` and ``/v1/completions``, streaming or not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from lm import END, NGramModel

import scaleserve
from scaleserve.model.tasks import Generation, GenerationChunk, GenerationRequest

CORPUS = Path(__file__).with_name("corpus.txt")
DEFAULT_MAX_TOKENS = 200


class TextGen(scaleserve.Model):
    """Continues a prompt (or answers a chat) one character at a time."""

    name = "textgen"
    version = "ngram-6"
    task = "text-generation"
    max_batch_size = 8  # non-streaming requests are batched; streams run one at a time
    example_input: ClassVar[dict[str, Any]] = {"prompt": "The keeper", "max_tokens": 8}

    def load(self) -> None:
        self.lm = NGramModel.train(CORPUS.read_text(encoding="utf-8"), order=6)

    def predict(self, batch: list[GenerationRequest]) -> list[Generation]:
        return [Generation.collect(self.predict_stream(request)) for request in batch]

    def predict_stream(self, item: GenerationRequest) -> Iterator[GenerationChunk]:
        prompt = item.text()
        rng = random.Random(item.seed)  # noqa: S311 - sampling text, not secrets
        stops = [*item.stop, END]
        written = ""  # generated so far
        held = ""  # generated but not yet sent: it may be the start of a stop sequence
        finish = "length"
        for _ in range(item.max_tokens or DEFAULT_MAX_TOKENS):
            char = self.lm.next_char(prompt + written, item.temperature, item.top_p, rng)
            written += char
            held += char
            stop = next((s for s in stops if held.endswith(s)), None)
            if stop is not None:
                held = held[: -len(stop)]
                finish = "stop"
                break
            ready = _unambiguous(held, stops)
            yield from _pieces(held[:ready])
            held = held[ready:]
        yield from _pieces(held)
        yield GenerationChunk(tokens=0, prompt_tokens=len(prompt), finish_reason=finish)


def _unambiguous(held: str, stops: list[str]) -> int:
    """How many leading characters of ``held`` can start no stop sequence: those can go."""
    for start in range(len(held)):
        if any(stop.startswith(held[start:]) for stop in stops):
            return start
    return len(held)


def _pieces(text: str) -> Iterator[GenerationChunk]:
    """One chunk per character: one token each."""
    for char in text:
        yield GenerationChunk(text=char)
