"""The few shapes that the gateway, the queue and the workers all speak.

They travel between processes as msgpack (never pickle), so every field is a plain value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgspec


class WorkItem(msgspec.Struct, array_like=True, frozen=True):
    """One input item on its way to a worker."""

    id: int
    payload: bytes  # the item as JSON, already validated by the gateway
    deadline: float  # unix time after which running the item is pointless
    enqueued_at: float  # unix time the gateway queued it
    stream: bool = False  # run through predict_stream, alone, its chunks sent as produced
    trace: str = ""  # the W3C traceparent of its producer span ("" when not traced)


class FailureKind(enum.StrEnum):
    """Why a worker could not produce an item's output."""

    MODEL = "model"  # the model raised, or returned something wrong
    INPUT = "input"  # the payload did not validate in the worker
    EXPIRED = "expired"  # the deadline passed before the item ran
    CANCELLED = "cancelled"  # the gateway stopped the stream (its client went away)


class ItemResult(msgspec.Struct, array_like=True, frozen=True):
    """The outcome of one item: its output as JSON, or the failure.

    For a streamed item the result ends the stream: its output went out as chunks, so a
    result without a failure has no ``output``.
    """

    id: int
    output: bytes | None = None
    failure: FailureKind | None = None
    error: str | None = None
    compute_s: float = 0.0  # this item's share of its batch's model time


@dataclass(frozen=True)
class QueueLoad:
    """What a queue says at one moment, for the autoscaler (its counters only grow)."""

    at: float
    queued: int
    in_flight: int
    arrived: int
    completed: int
    busy_s: float
    """Total seconds its workers have spent holding items."""
    warm: int
    batches: tuple[tuple[int, float], ...] = ()
    """Its workers' recent batches: (items, seconds from hand-out to answer)."""
