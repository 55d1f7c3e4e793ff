"""The embedded broker: the gateway holds each model's queue; workers pull over a Unix socket.

Workers on this machine connect to ``socket_path``, say ``Hello`` once warm, and pull
batches. Items a worker holds when its connection drops (the process died) fail at once
with ``WorkerLost``; items still queued wait for the next worker.

A streamed item goes through the same queue (and counts against the same bound); its
chunks come back on the worker's connection as ``Chunk`` frames. When its reader goes away
the worker holding it gets a ``Cancel``; if no worker has it yet, it leaves the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncGenerator, Iterable

from scaleserve.errors import Overloaded, UnknownModel, WorkerLost
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import tracing
from scaleserve.queue import frames
from scaleserve.queue.model_queue import ModelQueue, Puller
from scaleserve.queue.pending import PendingTable
from scaleserve.types import ItemResult, QueueLoad, WorkItem

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """Gateway side of the embedded queue; see ``scaleserve.queue.broker.Broker``."""

    def __init__(self, socket_path: str, specs: Iterable[ModelSpec]) -> None:
        self.socket_path = socket_path
        self._queues: dict[str, ModelQueue] = {}
        for spec in specs:
            self._add_queue(spec)
        self._pending = PendingTable()
        self._links: set[WorkerLink] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        self._server = await asyncio.start_unix_server(self._serve_link, path=self.socket_path)
        os.chmod(self.socket_path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)

    async def submit(self, model: str, payloads: list[bytes], timeout_s: float) -> list[bytes]:
        queue = self._queue(model)
        if not queue.has_room(len(payloads)):
            raise Overloaded(model, queue.bound)
        request = self._pending.open(model, len(payloads))
        now = time.time()
        deadline = now + timeout_s
        span = tracing.start_producer(model, len(payloads))
        trace = tracing.traceparent(span)
        queue.put(
            [
                WorkItem(i, p, deadline, now, trace=trace)
                for i, p in zip(request.item_ids, payloads, strict=True)
            ]
        )
        tracing.end(span)
        return await request.wait(timeout_s)

    async def stream(
        self, model: str, payload: bytes, timeout_s: float
    ) -> AsyncGenerator[bytes, None]:
        queue = self._queue(model)
        if not queue.has_room(1):
            raise Overloaded(model, queue.bound)
        stream = self._pending.open_stream(model, timeout_s)
        now = time.time()
        span = tracing.start_producer(model, 1)
        trace = tracing.traceparent(span)
        queue.put([WorkItem(stream.item_id, payload, now + timeout_s, now, True, trace)])
        tracing.end(span)
        try:
            while (chunk := await stream.next()) is not None:
                yield chunk
        finally:
            stream.close()
            if not stream.answered:
                self._cancel(queue, stream.item_id)

    async def add_lane(self, spec: ModelSpec) -> None:
        """A queue for ``spec`` (one version of a registry model), unless it has one."""
        self._add_queue(spec)

    def _add_queue(self, spec: ModelSpec) -> None:
        name = spec.queue_name
        if name not in self._queues:
            self._queues[name] = ModelQueue(name, spec.max_queue_items)

    def remove_lane(self, name: str) -> None:
        """Forget an empty lane's queue (its workers have drained and gone)."""
        queue = self._queues.get(name)
        if queue is not None and queue.depth == 0:
            del self._queues[name]

    def depth(self, model: str) -> int:
        return self._queue(model).depth

    def load(self, model: str) -> QueueLoad:
        """The queue's backlog and counters, for the autoscaler."""
        queue = self._queue(model)
        busy_now = sum(link.busy_now() for link in self._links if link.model == model)
        return QueueLoad(
            at=time.monotonic(),
            queued=queue.queued,
            in_flight=queue.in_flight,
            arrived=queue.arrived,
            completed=queue.completed,
            busy_s=queue.busy_s + busy_now,
            warm=self.ready_workers(model),
            batches=tuple(queue.batches),
        )

    def queued(self, model: str) -> int:
        return self._queue(model).queued

    def ready_workers(self, model: str) -> int:
        return sum(1 for link in self._links if link.model == model and not link.draining)

    def _queue(self, model: str) -> ModelQueue:
        try:
            return self._queues[model]
        except KeyError:
            raise UnknownModel(model) from None

    def _cancel(self, queue: ModelQueue, item_id: int) -> None:
        """Stop a stream nobody reads: out of the queue if no worker has it yet, else tell
        the worker holding it."""
        if queue.discard(item_id):
            return
        for link in self._links:
            if link.cancel(item_id):
                return

    async def _serve_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = WorkerLink(self, writer)
        self._links.add(link)
        try:
            async for frame in frames.frames(reader):
                link.handle(frame)
        except (frames.ProtocolError, ConnectionError) as exc:
            log.warning("worker connection %s ended: %s", link, exc)
        finally:
            self._links.discard(link)
            link.lost()
            writer.close()


class WorkerLink:
    """One worker's connection: what it pulls, what it holds, what it answers."""

    def __init__(self, broker: EmbeddedBroker, writer: asyncio.StreamWriter) -> None:
        self._broker = broker
        self._writer = writer
        self._queue: ModelQueue | None = None
        self._puller: Puller | None = None
        self._held: dict[int, WorkItem] = {}
        self._busy_since = 0.0
        self._busy_items = 0
        self.model: str | None = None
        self.pid = 0
        self.draining = False

    def __str__(self) -> str:
        return f"{self.model or '?'} pid={self.pid}"

    def handle(self, frame: frames.Frame) -> None:
        match frame:
            case frames.Pull(max_items=max_items, timeout_s=timeout_s):
                self._pull(max_items, timeout_s)
            case frames.Results(results=results):
                self._resolve(results)
            case frames.Chunk(id=item_id, data=data):
                if item_id in self._held:
                    self._broker._pending.push_chunk(item_id, data)
            case frames.Hello():
                self._hello(frame)
            case frames.Bye():
                self._bye()
            case _:
                raise frames.ProtocolError(f"unexpected frame {type(frame).__name__}")

    def lost(self) -> None:
        """The connection is gone: release the parked pull and fail the items it held."""
        if self._queue is None:
            return
        if self._puller is not None:
            self._queue.release(self._puller)
        if self._held:
            log.error("worker %s died holding %d items; failing them", self, len(self._held))
            self._queue.in_flight -= len(self._held)
            self._broker._pending.fail(self._held, WorkerLost(self._queue.model))
            self._held.clear()

    def abort(self) -> None:
        self._writer.close()

    def busy_now(self) -> float:
        """Seconds it has held items since it last held none (0 when idle)."""
        return time.monotonic() - self._busy_since if self._held else 0.0

    def cancel(self, item_id: int) -> bool:
        """Tell the worker to stop streaming ``item_id``; False if it does not hold it."""
        if item_id not in self._held:
            return False
        self._send(frames.Cancel(item_id))
        return True

    def _hello(self, hello: frames.Hello) -> None:
        self._queue = self._broker._queue(hello.model)
        self.model = hello.model
        self.pid = hello.pid
        log.info("worker %s of model %r is ready", hello.pid, hello.model)

    def _pull(self, max_items: int, timeout_s: float | None) -> None:
        if self._queue is None:
            raise frames.ProtocolError("Pull before Hello")
        if self.draining:
            self._send(frames.Work([], closing=True))
            return
        self._puller = Puller(max_items, self._deliver)
        self._queue.pull(self._puller, timeout_s)

    def _deliver(self, items: list[WorkItem]) -> None:
        self._puller = None
        if items and self._queue is not None:
            self._queue.in_flight += len(items)
            if not self._held:
                self._busy_since = time.monotonic()
                self._busy_items = 0
            self._busy_items += len(items)
            for item in items:
                self._held[item.id] = item
        self._send(frames.Work(items))

    def _resolve(self, results: list[ItemResult]) -> None:
        pending = self._broker._pending
        answered = 0
        for result in results:
            if self._held.pop(result.id, None) is not None:
                answered += 1
            pending.resolve(result)
        if self._queue is not None:
            self._queue.in_flight -= answered
            self._queue.completed += answered
            if answered and not self._held:
                busy_s = time.monotonic() - self._busy_since
                self._queue.busy_s += busy_s
                self._queue.batches.append((self._busy_items, busy_s))

    def _bye(self) -> None:
        self.draining = True
        if (
            self._puller is not None
            and self._queue is not None
            and self._queue.release(self._puller)
        ):
            self._puller = None
            self._send(frames.Work([], closing=True))

    def _send(self, frame: frames.Frame) -> None:
        if not self._writer.is_closing():
            self._writer.write(frames.encode(frame))
