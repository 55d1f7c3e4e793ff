"""Cached models for the cache's end-to-end tests.

Every output carries ``n``, a counter of the items its worker computed: an answer from the
cache repeats the ``n`` of the answer it copies, a computed one has a new ``n``.
"""

from __future__ import annotations

import os
import time
from itertools import count
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

import scaleserve
from scaleserve.cache import CachePolicy

VERSION_ENV = "CACHE_TEST_VERSION"
BROKEN_FLAG_ENV = "CACHE_TEST_BROKEN_FLAG"
"""A file path: while the file exists, the ``fragile`` model fails to load."""


class Item(BaseModel):
    value: int
    sleep_ms: float = Field(default=0, ge=0, le=60_000)


class Counted(BaseModel):
    value: int
    n: int
    pid: int


class CountingModel(scaleserve.Model):
    """Returns each item's value with the worker's running count of computed items."""

    max_batch_size = 8
    max_wait_ms = 1
    example_input: ClassVar[dict[str, int]] = {"value": -1}

    def load(self) -> None:
        self.counter = count(1)

    def predict(self, batch: list[Item]) -> list[Counted]:
        time.sleep(max(item.sleep_ms for item in batch) / 1000)
        return [Counted(value=i.value, n=next(self.counter), pid=os.getpid()) for i in batch]


class Exact(CountingModel):
    name = "exact"
    version = os.environ.get(VERSION_ENV, "1")
    cache = "exact"


class Small(CountingModel):
    """Room for three entries: for evictions."""

    name = "small"
    cache = CachePolicy(mode="exact", max_entries=3)


class Fragile(CountingModel):
    """Short-lived entries that may be served stale for an hour; room for two queued items;
    cannot load while the broken flag exists."""

    name = "fragile"
    max_queue_items = 2
    cache = CachePolicy(mode="exact", ttl_s=0.5, stale_s=3600)

    def load(self) -> None:
        flag = os.environ.get(BROKEN_FLAG_ENV)
        if flag and Path(flag).exists():
            raise RuntimeError("broken on purpose")
        super().load()


class Anything(scaleserve.Model):
    """Any JSON item, cached exactly: returns it with the worker's count."""

    name = "anything"
    cache = "exact"

    def load(self) -> None:
        self.counter = count(1)

    def predict(self, batch: list[Any]) -> list[dict[str, Any]]:
        return [{"item": item, "n": next(self.counter)} for item in batch]


class Plain(CountingModel):
    """No cache (the default)."""

    name = "plain"
