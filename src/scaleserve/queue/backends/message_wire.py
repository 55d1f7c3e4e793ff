"""How items, results, chunks and cancellations travel on RabbitMQ and NATS: msgpack
(never pickle) of plain structs, one message each.

Everything read back is validated: a message that does not decode is dead-lettered, never
run.
"""

from __future__ import annotations

import time

import msgspec

from scaleserve.types import ItemResult


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    """One item on a model's queue, and where its result goes."""

    payload: bytes
    deadline: float
    enqueued_at: float
    reply_to: str
    """The gateway's reply queue (RabbitMQ) or subject (NATS)."""
    item_id: int
    """The id the gateway waits on."""
    stream: bool = False
    trace: str = ""


class Reply(msgspec.Struct, array_like=True, frozen=True):
    """A result (``result`` set) or one chunk of a streamed item (``chunk`` set)."""

    item_id: int
    result: ItemResult | None = None
    chunk: bytes | None = None


class Cancel(msgspec.Struct, array_like=True, frozen=True):
    """Nobody waits for ``item_id`` of the gateway at ``reply_to`` any more: its stream's
    client went away, or its request was refused part-way and withdrawn."""

    reply_to: str
    item_id: int


def result_reply(result: ItemResult, item_id: int) -> Reply:
    """The reply carrying a worker's ``result`` back under the gateway's ``item_id``."""
    renumbered = ItemResult(item_id, result.output, result.failure, result.error, result.compute_s)
    return Reply(item_id, result=renumbered)


class MalformedMessage(ValueError):
    """A message that scaleserve did not write (or that was damaged)."""


_encoder = msgspec.msgpack.Encoder()
_envelopes = msgspec.msgpack.Decoder(Envelope)
_replies = msgspec.msgpack.Decoder(Reply)
_cancels = msgspec.msgpack.Decoder(Cancel)


def encode(message: Envelope | Reply | Cancel) -> bytes:
    return _encoder.encode(message)


def decode_envelope(data: bytes) -> Envelope:
    try:
        return _envelopes.decode(data)
    except msgspec.DecodeError as exc:
        raise MalformedMessage(str(exc)) from None


def decode_reply(data: bytes) -> Reply:
    return _replies.decode(data)


def decode_cancel(data: bytes) -> Cancel:
    return _cancels.decode(data)


class CancelledItems:
    """The items gateways have cancelled lately, as a worker heard of them."""

    def __init__(self, keep_s: float = 600.0) -> None:
        self._keep_s = keep_s
        self._seen: dict[tuple[str, int], float] = {}

    def add(self, cancel: Cancel) -> None:
        now = time.monotonic()
        if len(self._seen) > 1000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self._keep_s}
        self._seen[(cancel.reply_to, cancel.item_id)] = now

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._seen
