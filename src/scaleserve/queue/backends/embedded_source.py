"""Worker side of the embedded queue: pulls work from the gateway over its Unix socket.

A listener task reads every frame the gateway sends: ``Work`` answers the pending ``read``,
``Cancel`` marks a stream to stop. Reading in the background is what lets a ``Cancel`` be
seen while the worker is busy streaming.
"""

from __future__ import annotations

import asyncio
import contextlib

from scaleserve.background import stop_task
from scaleserve.errors import StreamCancelled
from scaleserve.queue import frames
from scaleserve.types import ItemResult, WorkItem


class EmbeddedWorkSource:
    """See ``scaleserve.queue.broker.WorkSource``. One reader at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._closing = False
        self._work: asyncio.Future[list[WorkItem]] | None = None
        self._lost: Exception | None = None
        self._streams: set[int] = set()  # streamed items handed out, not yet answered
        self._cancelled: set[int] = set()
        self._listener = asyncio.create_task(self._listen(reader))

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
        if self._lost is not None:
            raise self._lost
        self._work = asyncio.get_running_loop().create_future()
        self._writer.write(frames.encode(frames.Pull(max_items, timeout_s)))
        try:
            return await self._work
        finally:
            self._work = None

    async def reply(self, results: list[ItemResult]) -> None:
        if self._streams:
            for result in results:
                self._streams.discard(result.id)
                self._cancelled.discard(result.id)
        self._writer.write(frames.encode(frames.Results(results)))
        await self._writer.drain()

    async def send_chunk(self, item_id: int, data: bytes) -> None:
        self._check_stream(item_id)
        self._writer.write(frames.encode(frames.Chunk(item_id, data)))
        await self._writer.drain()
        # Let the listener run, so a Cancel that arrived stops the model before its next chunk.
        await asyncio.sleep(0)
        self._check_stream(item_id)

    def request_stop(self) -> None:
        if not self._writer.is_closing():
            self._writer.write(frames.encode(frames.Bye()))

    async def close(self) -> None:
        await stop_task(self._listener)
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    def _check_stream(self, item_id: int) -> None:
        if item_id in self._cancelled:
            raise StreamCancelled(item_id)
        if self._lost is not None:
            raise self._lost

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        try:
            async for frame in frames.frames(reader):
                self._handle(frame)
            lost: Exception = ConnectionResetError("the gateway closed the queue connection")
        except (frames.ProtocolError, ConnectionError) as exc:
            lost = exc
        self._lost = lost
        if self._work is not None and not self._work.done():
            self._work.set_exception(lost)

    def _handle(self, frame: frames.Frame) -> None:
        match frame:
            case frames.Work(items=items, closing=closing):
                if self._work is None or self._work.done():
                    raise frames.ProtocolError("Work without a Pull")
                self._streams.update(item.id for item in items if item.stream)
                self._closing = self._closing or closing
                self._work.set_result(items)
            case frames.Cancel(id=item_id):
                if item_id in self._streams:
                    self._cancelled.add(item_id)
            case _:
                raise frames.ProtocolError(f"unexpected frame {type(frame).__name__}")
