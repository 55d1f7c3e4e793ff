"""Models for the tenancy tests: a cached echo with prices, a slow model, and a model with
room for one item that falls back to a smaller one."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from pydantic import BaseModel, Field

import scaleserve


class Item(BaseModel):
    text: str
    sleep_ms: float = Field(default=0, ge=0, le=10_000)


class Priced(scaleserve.Model):
    """Echoes each text; cached per tenant, priced per compute second and per 1000 items."""

    name = "priced"
    max_batch_size = 8
    cache = "exact"
    price_per_compute_s = 2.0
    price_per_1k_items = 0.5
    example_input: ClassVar[dict[str, str]] = {"text": "warm"}

    async def predict(self, batch: list[Item]) -> list[str]:
        await asyncio.sleep(max(item.sleep_ms for item in batch) / 1000)
        return [item.text for item in batch]


class Big(scaleserve.Model):
    """Room for one item at a time; a smaller model answers for it when it is full."""

    name = "big"
    max_queue_items = 1
    fallback = "small"

    async def predict(self, batch: list[Item]) -> list[str]:
        await asyncio.sleep(max(item.sleep_ms for item in batch) / 1000)
        return [f"big:{item.text}" for item in batch]


class Small(scaleserve.Model):
    name = "small"

    def predict(self, batch: list[Item]) -> list[str]:
        return [f"small:{item.text}" for item in batch]
