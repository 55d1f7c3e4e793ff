"""A character-level n-gram language model: counts which character follows each context of
up to ``order`` characters, and samples from the longest context it has seen.

A blank line ends a paragraph in the training text, and ends generation too.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass

END = "\n\n"


@dataclass(frozen=True)
class Choices:
    """The characters seen after one context, most frequent first, with their counts."""

    chars: tuple[str, ...]
    counts: tuple[int, ...]


class NGramModel:
    def __init__(self, order: int, table: dict[str, Choices]) -> None:
        self.order = order
        self._table = table

    @classmethod
    def train(cls, text: str, order: int = 6) -> NGramModel:
        """Count every (context, next character) pair of ``text``, contexts of 0..order."""
        counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for end in range(len(text)):
            for size in range(min(order, end) + 1):
                counts[text[end - size : end]][text[end]] += 1
        table = {}
        for context, seen in counts.items():
            ranked = sorted(seen.items(), key=lambda pair: (-pair[1], pair[0]))
            table[context] = Choices(tuple(c for c, _ in ranked), tuple(n for _, n in ranked))
        return cls(order, table)

    def next_char(self, text: str, temperature: float, top_p: float, rng: random.Random) -> str:
        """A character to follow ``text``; temperature 0 always picks the likeliest."""
        choices = self._choices(text)
        if temperature == 0:
            return choices.chars[0]
        weights = [count ** (1 / temperature) for count in choices.counts]
        kept = _nucleus(weights, top_p)
        return rng.choices(choices.chars[:kept], weights[:kept])[0]

    def _choices(self, text: str) -> Choices:
        for size in range(min(self.order, len(text)), -1, -1):
            found = self._table.get(text[len(text) - size :])
            if found is not None:
                return found
        raise ValueError("the model was trained on no text")


def _nucleus(weights: list[float], top_p: float) -> int:
    """How many of the (descending) ``weights`` make up ``top_p`` of their total."""
    total = sum(weights)
    running = 0.0
    for kept, weight in enumerate(weights, start=1):
        running += weight
        if running >= top_p * total:
            return kept
    return len(weights)
