from __future__ import annotations

import asyncio

import pytest

from scaleserve.queue import frames
from scaleserve.types import FailureKind, ItemResult, WorkItem


def feed(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_every_frame_type_round_trips() -> None:
    sent: list[frames.Frame] = [
        frames.Hello("m", "1", 42, 0),
        frames.Pull(8, None),
        frames.Pull(8, 0.005),
        frames.Work([WorkItem(1, b'"x"', 2.0, 1.0)], closing=True),
        frames.Results(
            [ItemResult(1, output=b"1"), ItemResult(2, failure=FailureKind.MODEL, error="e")]
        ),
        frames.Work([WorkItem(3, b"2", 2.0, 1.0, stream=True)]),
        frames.Chunk(3, b'{"text":"hi"}'),
        frames.Cancel(3),
        frames.Results([ItemResult(3), ItemResult(4, failure=FailureKind.CANCELLED)]),
        frames.Bye(),
    ]
    reader = feed(b"".join(frames.encode(f) for f in sent))
    assert [f async for f in frames.frames(reader)] == sent


async def test_garbage_is_a_protocol_error_not_a_crash() -> None:
    payload = b"\x80\x04\x95 pickle-looking bytes"
    with pytest.raises(frames.ProtocolError):
        await frames.read_frame(feed(len(payload).to_bytes(4, "big") + payload))


async def test_oversized_length_is_refused_before_reading() -> None:
    with pytest.raises(frames.ProtocolError, match="over the limit"):
        await frames.read_frame(feed((frames.MAX_FRAME_BYTES + 1).to_bytes(4, "big")))
