"""Gateway side of the message-broker queues (RabbitMQ, NATS JetStream): what they share.

Each backend supplies a ``Transport`` that publishes items to a model's queue (confirmed
by the broker before ``publish`` returns), delivers this gateway's replies, broadcasts
stream cancellations and reads queue statistics; ``MessageBroker`` does the rest, as the
Redis broker does: the table of waiting requests, deadlines, streams, and the bound.

The bound (``max_queue_items``) is checked against the last statistics read plus what this
gateway has in flight, before anything is queued, and the broker enforces it too (RabbitMQ
``x-max-length`` with ``reject-publish``, JetStream ``max_msgs`` with ``discard new``):
items the broker refuses fail the request with ``Overloaded``. A request is admitted whole
or not at all, as Redis's Lua step admits it: one the broker refuses part-way (several
gateways filled the queue between two statistics reads) is withdrawn. JetStream deletes
the items it took; on RabbitMQ, which cannot delete a queued message, every worker is told
(the cancellations are kept in a stream for workers that start later) and drops them
unrun. Only an item a worker had already started runs, and its result is dropped.

``load`` feeds the local autoscaler (``serve --queue``): the broker's backlog, and this
gateway's own counts of items sent and answered and of the model time they took.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from scaleserve.background import stop_task
from scaleserve.errors import Overloaded, ServingError, UnknownModel
from scaleserve.model.spec import ModelSpec
from scaleserve.observe import tracing
from scaleserve.queue.backends import message_wire
from scaleserve.queue.backends.message_wire import Cancel, Envelope
from scaleserve.queue.pending import PendingTable
from scaleserve.types import QueueLoad

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 1.0


class QueueStats(Protocol):
    queued: int
    """Items waiting for a worker."""
    held: int
    """Items handed to workers and not yet acknowledged (0 where the broker cannot say)."""
    workers: int


@dataclass
class Answered:
    """What this gateway sent to a model's queue and got back (the counters only grow)."""

    arrived: int = 0
    completed: int = 0
    busy_s: float = 0.0


class Transport(Protocol):
    """What a message broker must do for ``MessageBroker``."""

    reply_to: str
    """This gateway's reply queue or subject."""

    async def start(self, on_reply: Callable[[bytes], None]) -> None: ...

    async def close(self) -> None: ...

    async def declare(self, spec: ModelSpec) -> None:
        """Make sure ``spec``'s queue exists."""
        ...

    async def publish(self, spec: ModelSpec, bodies: list[bytes]) -> None:
        """Queue ``bodies`` and return once the broker has them. ``Overloaded`` when the
        broker refuses one for the bound, ``QueueUnavailable`` when it cannot be reached;
        either only once every publish has settled, after taking back what it can of those
        the broker took."""
        ...

    async def cancel(self, body: bytes) -> None:
        """Tell every worker (best effort)."""
        ...

    async def stats(self, spec: ModelSpec) -> QueueStats: ...


class MessageBroker:
    """See ``scaleserve.queue.broker.Broker``; also a ``LaneBroker`` for the registry."""

    def __init__(
        self, make_transport: Callable[[str], Transport], specs: Iterable[ModelSpec]
    ) -> None:
        """``make_transport``: the backend's transport for this gateway's id."""
        self.gateway_id = secrets.token_hex(8)
        self._transport = make_transport(self.gateway_id)
        self._specs = {spec.queue_name: spec for spec in specs}
        self._pending = PendingTable()
        self._in_flight: Counter[str] = Counter()
        self._answered: defaultdict[str, Answered] = defaultdict(Answered)
        self._stats: dict[str, QueueStats] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for spec in self._specs.values():
            await self._transport.declare(spec)
        await self._transport.start(self._on_reply)
        await self._read_stats()
        self._task = asyncio.create_task(self._refresh_stats())

    async def close(self) -> None:
        await stop_task(self._task)
        await self._transport.close()

    async def add_lane(self, spec: ModelSpec) -> None:
        """Queue into ``spec``'s own queue too (one version of a registry model)."""
        if spec.queue_name not in self._specs:
            await self._transport.declare(spec)
            self._specs[spec.queue_name] = spec

    def remove_lane(self, name: str) -> None:
        self._specs.pop(name, None)
        self._stats.pop(name, None)

    async def submit(self, model: str, payloads: list[bytes], timeout_s: float) -> list[bytes]:
        spec = self._spec(model)
        self._admit(spec, len(payloads))
        request = self._pending.open(model, len(payloads))
        now = time.time()
        span = tracing.start_producer(model, len(payloads))
        trace = tracing.traceparent(span)
        bodies = [
            message_wire.encode(
                Envelope(p, now + timeout_s, now, self._transport.reply_to, item_id, trace=trace)
            )
            for p, item_id in zip(payloads, request.item_ids, strict=True)
        ]
        self._in_flight[model] += len(payloads)
        try:
            try:
                await self._transport.publish(spec, bodies)
                self._answered[model].arrived += len(payloads)
            except ServingError:
                await self._withdraw(request.item_ids)
                raise
            return await request.wait(timeout_s)
        except ServingError:
            self._pending.forget(request)
            raise
        finally:
            tracing.end(span)
            self._in_flight[model] -= len(payloads)

    async def stream(
        self, model: str, payload: bytes, timeout_s: float
    ) -> AsyncGenerator[bytes, None]:
        spec = self._spec(model)
        self._admit(spec, 1)
        stream = self._pending.open_stream(model, timeout_s)
        now = time.time()
        span = tracing.start_producer(model, 1)
        envelope = Envelope(
            payload, now + timeout_s, now, self._transport.reply_to, stream.item_id,
            stream=True, trace=tracing.traceparent(span),
        )  # fmt: skip
        self._in_flight[model] += 1
        queued = False
        try:
            try:
                await self._transport.publish(spec, [message_wire.encode(envelope)])
                self._answered[model].arrived += 1
                queued = True
            finally:
                tracing.end(span)
            while (chunk := await stream.next()) is not None:
                yield chunk
        finally:
            self._in_flight[model] -= 1
            stream.close()
            if queued and not stream.answered:
                cancel = Cancel(self._transport.reply_to, stream.item_id)
                await self._transport.cancel(message_wire.encode(cancel))

    async def _withdraw(self, item_ids: Iterable[int]) -> None:
        """Tell every worker to drop these items unrun: their request was refused."""
        reply_to = self._transport.reply_to
        await asyncio.gather(
            *(self._transport.cancel(message_wire.encode(Cancel(reply_to, i))) for i in item_ids)
        )

    def depth(self, model: str) -> int:
        self._spec(model)
        stats = self._stats.get(model)
        queued = stats.queued + stats.held if stats else 0
        return max(queued, self._in_flight[model])

    def load(self, model: str) -> QueueLoad:
        """The backlog and counters of ``model``'s queue, for the local autoscaler."""
        self._spec(model)
        stats = self._stats.get(model)
        queued = stats.queued if stats else 0
        held = stats.held if stats else 0
        answered = self._answered[model]
        return QueueLoad(
            at=time.monotonic(),
            queued=queued,
            in_flight=max(held, self._in_flight[model] - queued),
            arrived=answered.arrived,
            completed=answered.completed,
            busy_s=answered.busy_s,
            warm=stats.workers if stats else 0,
        )

    def queued(self, model: str) -> int:
        self._spec(model)
        stats = self._stats.get(model)
        return stats.queued if stats else 0

    def ready_workers(self, model: str) -> int:
        self._spec(model)
        stats = self._stats.get(model)
        return stats.workers if stats else 0

    def lane_failure(self, lane: str) -> str | None:
        """Workers here report load failures to their supervisor only."""
        return None

    def _admit(self, spec: ModelSpec, count: int) -> None:
        stats = self._stats.get(spec.queue_name)
        queued = stats.queued if stats else 0
        if queued + self._in_flight[spec.queue_name] + count > spec.max_queue_items:
            raise Overloaded(spec.name, spec.max_queue_items)

    def _on_reply(self, body: bytes) -> None:
        try:
            reply = message_wire.decode_reply(body)
        except ValueError:
            log.exception("undecodable reply on %s", self._transport.reply_to)
            return
        if reply.chunk is not None:
            self._pending.push_chunk(reply.item_id, reply.chunk)
        elif reply.result is not None:
            model = self._pending.model_of(reply.result.id)
            if model is not None:
                answered = self._answered[model]
                answered.completed += 1
                answered.busy_s += reply.result.compute_s
            self._pending.resolve(reply.result)

    def _spec(self, model: str) -> ModelSpec:
        try:
            return self._specs[model]
        except KeyError:
            raise UnknownModel(model) from None

    async def _refresh_stats(self) -> None:
        """Queue depth and live workers for ``/metrics``, ``/readyz`` and the bound."""
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            await self._read_stats()

    async def _read_stats(self) -> None:
        for name, spec in list(self._specs.items()):
            try:
                stats = await self._transport.stats(spec)
            except Exception as exc:
                log.warning("reading the stats of %r failed: %r", name, exc)
                continue
            if name in self._specs:
                self._stats[name] = stats
