"""Worker side of the RabbitMQ queue.

A worker consumes its model's quorum queue with manual acknowledgements and a prefetch of
one batch. An item is acknowledged after its result went to the gateway, so a worker that
dies (its connection drops) leaves its items to RabbitMQ, which hands them to another
worker at once. Such redelivered items are suspects: each runs alone, so that a poison
item cannot take healthy ones down with it again, and one delivered more than
``max_deliveries`` times (``x-delivery-count``) is rejected to the dead letters and its
request fails. Items whose deadline passed are answered as expired by the runner, unrun.

Before it takes work, a worker reads the cancellations of the last ten minutes (until it
reads a marker of its own, so it has them all); an item whose gateway withdrew it is
acknowledged and dropped unrun.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from scaleserve.errors import StreamCancelled
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends import message_wire
from scaleserve.queue.backends.message_settings import MessageSourceSettings
from scaleserve.queue.backends.message_wire import (
    Cancel,
    CancelledItems,
    Envelope,
    MalformedMessage,
    Reply,
)
from scaleserve.queue.backends.queue_names import QueueNames
from scaleserve.queue.backends.rabbit_broker import declare_cancels, declare_work_queue
from scaleserve.types import FailureKind, ItemResult, WorkItem

log = logging.getLogger(__name__)
POLL_S = 1.0
"""Longest wait for an item, so that a stop request is seen in time."""
CANCEL_PREFETCH = 1000
CATCH_UP_TIMEOUT_S = 30.0


class RabbitWorkSource:
    """See ``scaleserve.queue.broker.WorkSource``."""

    def __init__(
        self,
        url: str,
        spec: ModelSpec,
        names: QueueNames | None = None,
        settings: MessageSourceSettings | None = None,
    ) -> None:
        self._url = url
        self._spec = spec
        self._names = names or QueueNames()
        self._settings = settings or MessageSourceSettings()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._next: AbstractIncomingMessage | None = None
        self._held: dict[int, tuple[AbstractIncomingMessage, Envelope]] = {}
        self._ids = itertools.count(1)
        self._cancelled = CancelledItems()
        self._marker = Cancel(f"worker.{secrets.token_hex(8)}", 0)
        self._caught_up = asyncio.Event()
        self._consumer_tag: str | None = None
        self._closing = False

    @property
    def closing(self) -> bool:
        return self._closing

    async def start(self) -> None:
        # not a robust connection: a worker cut off from RabbitMQ has lost its items to
        # redelivery anyway, so it exits and its supervisor starts a fresh one
        self._connection = await aio_pika.connect(self._url)
        await self._read_cancellations(self._connection)
        channel = self._channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self._spec.max_batch_size)
        queue = await declare_work_queue(self._connection, channel, self._names, self._spec)
        self._consumer_tag = await queue.consume(self._on_item)

    async def _read_cancellations(self, connection: AbstractConnection) -> None:
        """Follow the cancellation log from its start; return once this worker's own
        marker came back, so every cancellation sent before it is known."""
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=CANCEL_PREFETCH)  # a stream needs a prefetch
        exchange, log_queue = await declare_cancels(channel, self._names)
        await log_queue.consume(self._on_cancel, arguments={"x-stream-offset": "first"})
        await exchange.publish(aio_pika.Message(message_wire.encode(self._marker)), "")
        try:
            async with asyncio.timeout(CATCH_UP_TIMEOUT_S):
                await self._caught_up.wait()
        except TimeoutError:
            log.warning("the cancellation log of %r did not catch up; going on", self._spec.name)

    async def _on_item(self, message: AbstractIncomingMessage) -> None:
        self._inbox.put_nowait(message)

    async def _on_cancel(self, message: AbstractIncomingMessage) -> None:
        with contextlib.suppress(ValueError):
            cancel = message_wire.decode_cancel(message.body)
            if cancel == self._marker:
                self._caught_up.set()
            else:
                self._cancelled.add(cancel)
        await message.ack()

    def request_stop(self) -> None:
        self._closing = True

    async def close(self) -> None:
        """Give back what was delivered and not read, then close; what is held and not
        answered goes back to the queue with the connection."""
        if self._connection is None:
            return
        with contextlib.suppress(Exception):
            await self._give_back()
        await self._connection.close()

    async def _give_back(self) -> None:
        if self._channel is not None and self._consumer_tag is not None:
            queue = await self._channel.get_queue(self._names.work_queue(self._spec.queue_name))
            await queue.cancel(self._consumer_tag)
        unread = [self._next] if self._next is not None else []
        while not self._inbox.empty():
            unread.append(self._inbox.get_nowait())
        for message in unread:
            await message.nack(requeue=True)

    async def read(self, max_items: int, timeout_s: float | None) -> list[WorkItem]:
        loop = asyncio.get_running_loop()
        give_up_at = None if timeout_s is None else loop.time() + timeout_s
        items: list[WorkItem] = []
        while not self._closing and len(items) < max_items:
            wait_s = POLL_S if give_up_at is None else give_up_at - loop.time()
            message = await self._take(wait_s if not items else 0)
            if message is None:
                if items or (give_up_at is not None and loop.time() >= give_up_at):
                    break
                continue
            if _suspect(message) and items:
                self._next = message  # a suspect runs alone, in the next batch
                break
            item = await self._admit(message)
            if item is not None:
                items.append(item)
                if _suspect(message):
                    break
        return items

    async def _take(self, wait_s: float) -> AbstractIncomingMessage | None:
        if self._next is not None:
            message, self._next = self._next, None
            return message
        if not self._inbox.empty():
            return self._inbox.get_nowait()
        if wait_s <= 0:
            return None
        try:
            async with asyncio.timeout(wait_s):
                return await self._inbox.get()
        except TimeoutError:
            return None

    async def _admit(self, message: AbstractIncomingMessage) -> WorkItem | None:
        """The work item of ``message``, unless it is poison: then it is dead-lettered."""
        try:
            envelope = message_wire.decode_envelope(message.body)
        except MalformedMessage as exc:
            log.error("malformed item on %r dead-lettered: %s", self._spec.name, exc)  # noqa: TRY400 - no traceback to show
            await message.reject(requeue=False)
            return None
        if (envelope.reply_to, envelope.item_id) in self._cancelled:
            await message.ack()  # withdrawn by its gateway, which waits for it no more
            return None
        deliveries = _deliveries(message)
        if deliveries > self._settings.max_deliveries:
            why = f"delivered {deliveries} times; its worker died or stalled each time"
            log.error("dead-lettering an item of %r: %s", self._spec.name, why)
            failure = ItemResult(envelope.item_id, failure=FailureKind.MODEL, error=why)
            await self._publish(envelope.reply_to, Reply(envelope.item_id, result=failure))
            await message.reject(requeue=False)
            return None
        local_id = next(self._ids)
        self._held[local_id] = (message, envelope)
        return WorkItem(
            local_id, envelope.payload, envelope.deadline, envelope.enqueued_at,
            stream=envelope.stream, trace=envelope.trace,
        )  # fmt: skip

    async def reply(self, results: list[ItemResult]) -> None:
        for result in results:
            message, envelope = self._held.pop(result.id)
            answer = message_wire.result_reply(result, envelope.item_id)
            await self._publish(envelope.reply_to, answer)
            await message.ack()  # after the result went out: a crash before means a redelivery

    async def send_chunk(self, item_id: int, data: bytes) -> None:
        _, envelope = self._held[item_id]
        if (envelope.reply_to, envelope.item_id) in self._cancelled:
            raise StreamCancelled(item_id)
        await self._publish(envelope.reply_to, Reply(envelope.item_id, chunk=data))

    async def _publish(self, reply_to: str, reply: Reply) -> None:
        if self._channel is None:
            raise RuntimeError("the source is not started")
        body = message_wire.encode(reply)
        await self._channel.default_exchange.publish(aio_pika.Message(body), routing_key=reply_to)


def _deliveries(message: AbstractIncomingMessage) -> int:
    """Which delivery of ``message`` this is (quorum queues count the earlier ones)."""
    earlier = (message.headers or {}).get("x-delivery-count", 0)
    return 1 + (int(earlier) if isinstance(earlier, int) else 0)


def _suspect(message: AbstractIncomingMessage) -> bool:
    return bool(message.redelivered) or _deliveries(message) > 1
