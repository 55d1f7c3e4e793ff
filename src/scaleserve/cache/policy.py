"""A model's cache policy: what a ``Model`` subclass declares in its ``cache`` attribute.

``cache = "exact"`` takes every default; ``cache = CachePolicy(mode="semantic", ...)`` says
more. The policy is validated with the rest of the model's settings (``ModelSpec``), so a
wrong value is a ``ConfigError`` naming the field, at start, not at the first request.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

Mode = Literal["off", "exact", "semantic"]
Scope = Literal["tenant", "public"]

DEFAULT_MIN_SIMILARITY = 0.90
"""With all-MiniLM-L6-v2 and the guard, the threshold of best F0.5 (precision weighs more
than recall: a wrong hit is a wrong answer) on the labelled development sets in
``tests/cache/data``; see ``tests/cache/semantic_eval.py``."""


@dataclass(frozen=True)
class CachePolicy:
    """How the gateway caches one model's outputs.

    Constraints are checked when the model's spec is built (``ModelSpec.from_class``).
    """

    mode: Mode = "off"
    """``off``; ``exact``: an item identical to one answered before (same canonical JSON, same
    model version, same scope) is answered from the cache; ``semantic``: exact first, then a
    text item close enough in meaning to one answered before."""
    ttl_s: Annotated[float, Field(gt=0, le=366 * 86_400)] = 3600.0
    """How long an output is served as fresh."""
    max_entries: Annotated[int, Field(ge=1, le=100_000_000)] = 10_000
    """Bound on this model's entries in each gateway's memory tier and semantic index."""
    max_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024 * 1024
    """Bound on the bytes of this model's outputs in each gateway's memory tier."""
    stale_s: Annotated[float, Field(ge=0, le=366 * 86_400)] = 0.0
    """How long past ``ttl_s`` an output may still be served, marked stale, when the model
    cannot answer (no ready worker, queue over its bound, worker lost); 0: never."""
    scope: Scope = "tenant"
    """``tenant``: entries are seen only by the tenant that caused them; ``public``: one scope
    shared by every caller, for models whose outputs are not private."""
    embedding_model: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")] = "embeddings"
    """Semantic mode: the served model (same service) that embeds a text into a vector."""
    min_similarity: Annotated[float, Field(gt=0, le=1)] = DEFAULT_MIN_SIMILARITY
    """Semantic mode: cosine similarity a cached neighbour needs to be considered."""
    text_field: Annotated[str, Field(min_length=1)] | None = None
    """Semantic mode: the field of an object item that holds the text (the rest of the item
    must then match exactly); ``None``: items are strings."""

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def policy_input(value: Any) -> Any:
    """What ``ModelSpec`` validates for a ``cache`` attribute: a mode string, a policy, or
    anything else (which validation then refuses by name)."""
    if isinstance(value, str):
        return {"mode": value}
    if isinstance(value, CachePolicy):
        return dataclasses.asdict(value)
    return value
