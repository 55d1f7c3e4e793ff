"""Frames between the gateway and its workers over the embedded channel.

Each frame is a 4-byte big-endian length followed by a msgpack-encoded tagged struct.
Nothing here is ever unpickled: a frame that does not decode to one of these types is a
protocol error and ends the connection.

    worker -> gateway: Hello (once, after warm-up), Pull, Chunk, Results, Bye
    gateway -> worker: Work (exactly one per Pull), Cancel (at any time)

A streamed item's chunks go out as ``Chunk`` frames while it runs; its ``ItemResult`` (in
``Results``) ends the stream. ``Cancel`` asks the worker to stop a stream whose client went
away; the worker still answers it with a result, so the gateway knows it is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec

from scaleserve.types import ItemResult, WorkItem

MAX_FRAME_BYTES = 256 * 1024 * 1024
_LENGTH_BYTES = 4


class Hello(msgspec.Struct, tag="hello", array_like=True, frozen=True):
    model: str
    version: str
    pid: int
    slot: int


class Pull(msgspec.Struct, tag="pull", array_like=True, frozen=True):
    """Ask for up to ``max_items``; the gateway answers when it has at least one, or with an
    empty ``Work`` after ``timeout_s`` (``None``: wait as long as it takes)."""

    max_items: int
    timeout_s: float | None


class Work(msgspec.Struct, tag="work", array_like=True, frozen=True):
    items: list[WorkItem]
    closing: bool = False  # the gateway will send no more work on this connection


class Results(msgspec.Struct, tag="results", array_like=True, frozen=True):
    results: list[ItemResult]


class Chunk(msgspec.Struct, tag="chunk", array_like=True, frozen=True):
    """One chunk (JSON) of a streamed item's output, sent as soon as the model yields it."""

    id: int
    data: bytes


class Cancel(msgspec.Struct, tag="cancel", array_like=True, frozen=True):
    """Stop the stream of item ``id``: nobody is reading it any more."""

    id: int


class Bye(msgspec.Struct, tag="bye", array_like=True, frozen=True):
    """The worker wants to stop: finish what it holds, send it no more."""


Frame = Hello | Pull | Work | Results | Chunk | Cancel | Bye

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Frame)


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid frame."""


def encode(frame: Frame) -> bytes:
    payload = _encoder.encode(frame)
    return len(payload).to_bytes(_LENGTH_BYTES, "big") + payload


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame; raises ``asyncio.IncompleteReadError`` at end of stream."""
    header = await reader.readexactly(_LENGTH_BYTES)
    length = int.from_bytes(header, "big")
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {length} bytes is over the limit")
    payload = await reader.readexactly(length)
    try:
        frame: Frame = _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise ProtocolError(str(exc)) from exc
    return frame


async def frames(reader: asyncio.StreamReader) -> AsyncIterator[Frame]:
    """Frames until the peer closes the stream."""
    while True:
        try:
            yield await read_frame(reader)
        except asyncio.IncompleteReadError:
            return
