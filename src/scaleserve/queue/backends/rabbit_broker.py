"""Gateway side of the RabbitMQ queue (aio-pika): a quorum queue per model (per version
for registry lanes), publisher confirms before a request counts as queued, and replies on
this gateway's own exclusive queue.

Each model's queue is durable and replicated (``x-queue-type: quorum``), bounded
(``x-max-length`` with ``reject-publish``: the broker nacks what passes the bound; a quorum
queue takes one item past it first), and
dead-letters to ``<prefix>.dead`` (routed to ``<prefix>.dead.<model>``): workers reject
poison items there, and ``x-delivery-limit`` does it too as a backstop.

Cancellations (a stream's client gone, a refused request withdrawn) go to a fanout
exchange bound to a stream queue that keeps them ten minutes: each worker reads it from the
start when it starts, so one that was not running yet still drops a withdrawn item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aio_pika.exceptions import AMQPError, ChannelPreconditionFailed, DeliveryError
from pamqp.common import FieldValue

from scaleserve.errors import Overloaded, QueueUnavailable
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.message_broker import MessageBroker
from scaleserve.queue.backends.queue_names import QueueNames

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 5.0
DELIVERY_LIMIT_BACKSTOP = 20
"""RabbitMQ drops items returned more often than this to the dead letters by itself (the
workers dead-letter them after ``SCALESERVE_MAX_DELIVERIES``, telling the gateway)."""
RABBIT_ERRORS = (AMQPError, ConnectionError, OSError, TimeoutError)
CANCEL_LOG_ARGUMENTS: dict[str, FieldValue] = {
    "x-queue-type": "stream",
    "x-max-age": "10m",  # as long as a worker remembers a cancellation
    "x-max-length-bytes": 64_000_000,
    "x-stream-max-segment-size-bytes": 1_000_000,  # old cancellations go a segment at a time
}


@dataclass
class RabbitStats:
    queued: int
    held: int
    workers: int


async def declare_work_queue(
    connection: AbstractConnection, channel: AbstractChannel, names: QueueNames, spec: ModelSpec
) -> AbstractQueue:
    """``spec``'s quorum queue and its dead letters; the same arguments on every side.

    RabbitMQ never changes a queue's arguments, and a quorum queue cannot be deleted "if
    empty and unused" without a race that could lose an item: a queue declared before with
    another bound is kept as it is, and said so. The gateways check the new bound
    themselves; the broker's own stays the old one until an operator deletes the queue
    (``rabbitmqctl delete_queue``) while nothing runs.
    """
    dead = await channel.declare_exchange(
        names.dead_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    name = names.work_queue(spec.queue_name)
    dead_queue = await channel.declare_queue(
        names.dead_queue(spec.queue_name), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead, routing_key=name)
    arguments: dict[str, FieldValue] = {
        "x-queue-type": "quorum",
        "x-max-length": spec.max_queue_items,
        "x-overflow": "reject-publish",
        "x-dead-letter-exchange": names.dead_exchange,
        "x-delivery-limit": DELIVERY_LIMIT_BACKSTOP,
    }
    if await _declared(connection, name, arguments):
        return await channel.declare_queue(name, durable=True, arguments=arguments)
    log.warning(
        "RabbitMQ queue %r exists with other arguments than model %r asks for (a bound of"
        " %d): it keeps its own; the gateways check the new bound themselves. Delete the"
        " queue while nothing runs to change the broker's.",
        name, spec.name, spec.max_queue_items,
    )  # fmt: skip
    return await channel.declare_queue(name, passive=True)


async def _declared(
    connection: AbstractConnection, name: str, arguments: dict[str, FieldValue]
) -> bool:
    """Declare ``name`` with ``arguments`` on a channel of its own (a refusal closes it):
    False where it exists with other arguments."""
    probe = await connection.channel(publisher_confirms=False)
    try:
        await probe.declare_queue(name, durable=True, arguments=arguments)
    except ChannelPreconditionFailed:
        return False
    finally:
        with contextlib.suppress(*RABBIT_ERRORS):
            await probe.close()
    return True


async def declare_cancels(
    channel: AbstractChannel, names: QueueNames
) -> tuple[AbstractExchange, AbstractQueue]:
    """The cancellations' fanout exchange and the stream that keeps what it is sent."""
    exchange = await channel.declare_exchange(
        names.cancel_exchange, aio_pika.ExchangeType.FANOUT, durable=True
    )
    kept = await channel.declare_queue(
        names.cancel_log, durable=True, arguments=CANCEL_LOG_ARGUMENTS
    )
    await kept.bind(exchange)
    return exchange, kept


class RabbitTransport:
    """See ``message_broker.Transport``."""

    def __init__(self, url: str, names: QueueNames, gateway_id: str) -> None:
        self._url = url
        self._names = names
        self.reply_to = names.reply_queue(gateway_id)
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queues: dict[str, AbstractQueue] = {}
        self._cancels: AbstractExchange | None = None

    async def _open(self) -> AbstractChannel:
        if self._channel is None:
            try:
                self._connection = await aio_pika.connect_robust(self._url)
                self._channel = await self._connection.channel(publisher_confirms=True)
            except RABBIT_ERRORS as exc:
                raise QueueUnavailable(f"cannot reach RabbitMQ: {exc!r}") from exc
        return self._channel

    async def start(self, on_reply: Callable[[bytes], None]) -> None:
        channel = await self._open()
        self._cancels, _ = await declare_cancels(channel, self._names)
        replies = await channel.declare_queue(self.reply_to, exclusive=True, auto_delete=True)

        async def deliver(message: AbstractIncomingMessage) -> None:
            on_reply(message.body)

        await replies.consume(deliver, no_ack=True)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def declare(self, spec: ModelSpec) -> None:
        channel = await self._open()
        assert self._connection is not None
        self._queues[spec.queue_name] = await declare_work_queue(
            self._connection, channel, self._names, spec
        )

    async def publish(self, spec: ModelSpec, bodies: list[bytes]) -> None:
        channel = await self._open()
        name = self._names.work_queue(spec.queue_name)
        messages = [
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            for body in bodies
        ]
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                # all in flight at once: the confirms come back together; every one settles
                # before a refusal is reported, so a withdrawal follows all of them
                outcomes = await asyncio.gather(
                    *(channel.default_exchange.publish(m, routing_key=name) for m in messages),
                    return_exceptions=True,
                )
        except RABBIT_ERRORS as exc:
            raise QueueUnavailable(f"RabbitMQ did not take the request: {exc!r}") from exc
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if any(isinstance(f, DeliveryError) for f in failures):
            raise Overloaded(spec.name, spec.max_queue_items)
        if failures:
            raise QueueUnavailable(f"RabbitMQ did not take the request: {failures[0]!r}")

    async def cancel(self, body: bytes) -> None:
        if self._cancels is not None:
            # best effort: without it, the worker stops when the stream's deadline passes
            with contextlib.suppress(*RABBIT_ERRORS):
                await self._cancels.publish(aio_pika.Message(body), routing_key="")

    async def stats(self, spec: ModelSpec) -> RabbitStats:
        queue = self._queues[spec.queue_name]
        declared = await queue.declare()
        # AMQP tells ready items and consumers; items held by workers are not counted
        return RabbitStats(declared.message_count or 0, 0, declared.consumer_count or 0)


def rabbit_broker(url: str, specs: list[ModelSpec], prefix: str) -> MessageBroker:
    """A gateway broker on the RabbitMQ at ``url`` (``amqp://user:password@host:port/vhost``)."""
    names = QueueNames(prefix)
    return MessageBroker(lambda gateway_id: RabbitTransport(url, names, gateway_id), specs)
