"""Worker side of the embedded queue: pulls work from the gateway over its Unix socket."""

from __future__ import annotations

import asyncio
import contextlib

from scaleserve.queue import frames
from scaleserve.types import ItemResult, WorkItem


class EmbeddedWorkSource:
    """See ``scaleserve.queue.broker.WorkSource``. One reader at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._closing = False

    @classmethod
    async def connect(cls, socket_path: str, hello: frames.Hello) -> EmbeddedWorkSource:
        reader, writer = await asyncio.open_unix_connection(socket_path)
        writer.write(frames.encode(hello))
        await writer.drain()
        return cls(reader, writer)

    @property
    def closing(self) -> bool:
        return self._closing

    async def read(self, max_items: int, timeout_s: float | None) -> list[WorkItem]:
        if self._closing:
            return []
        self._writer.write(frames.encode(frames.Pull(max_items, timeout_s)))
        frame = await frames.read_frame(self._reader)
        if not isinstance(frame, frames.Work):
            raise frames.ProtocolError(f"expected Work, got {type(frame).__name__}")
        if frame.closing:
            self._closing = True
        return frame.items

    async def reply(self, results: list[ItemResult]) -> None:
        self._writer.write(frames.encode(frames.Results(results)))
        await self._writer.drain()

    def request_stop(self) -> None:
        if not self._writer.is_closing():
            self._writer.write(frames.encode(frames.Bye()))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
