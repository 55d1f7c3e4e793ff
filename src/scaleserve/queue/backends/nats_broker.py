"""Gateway side of the NATS JetStream queue (nats-py): a work-queue stream per model (per
version for registry lanes), replies over core NATS on this gateway's own subject.

A work-queue stream keeps an item until a worker acknowledges it, so its ``max_msgs``
(``discard: new``) bounds queued plus running items, as the Redis bound does: JetStream
refuses what passes it. Workers pull through one durable consumer (``workers``) whose
``AckWait`` and ``MaxDeliver`` govern redelivery; dead letters go to ``<prefix>.dead.<model>``,
kept in a stream of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    PubAck,
    RetentionPolicy,
    StorageType,
)
from nats.js.errors import APIError, BadRequestError, NotFoundError

from scaleserve.errors import Overloaded, QueueUnavailable
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.message_broker import MessageBroker
from scaleserve.queue.backends.queue_names import WORKER_CONSUMER, QueueNames

PUBLISH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0
WORKER_FRESH_S = 3.0
"""A worker not heard from for this long no longer counts as ready."""
MAX_DELIVER_BACKSTOP = 20
"""JetStream stops redelivering after this many deliveries by itself (workers dead-letter
an item after ``SCALESERVE_MAX_DELIVERIES``, telling the gateway)."""
STREAM_FULL = 10077
"""JetStream's error code for a publish past ``max_msgs`` with ``discard: new``."""
NATS_ERRORS = (NatsError, OSError, TimeoutError)


@dataclass
class NatsStats:
    queued: int
    held: int
    workers: int


async def connect(url: str, name: str) -> Client:
    """A client that reconnects for as long as it lives, once the first connect worked."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S * 2):
            return await nats.connect(
                url, name=name, connect_timeout=CONNECT_TIMEOUT_S, max_reconnect_attempts=-1
            )
    except NATS_ERRORS as exc:
        raise QueueUnavailable(f"cannot reach NATS: {exc!r}") from exc


async def ensure_stream(js: JetStreamContext, names: QueueNames, spec: ModelSpec) -> None:
    """``spec``'s work-queue stream (its bound updated when it changed) and dead letters."""
    model = spec.queue_name
    work = {
        "name": names.stream(model),
        "subjects": [names.work_subject(model)],
        "retention": RetentionPolicy.WORK_QUEUE,
        "max_msgs": spec.max_queue_items,
        "discard": DiscardPolicy.NEW,
        "storage": StorageType.FILE,
    }
    dead = {"name": names.dead_stream(model), "subjects": [names.dead_subject(model)]}
    for config in (work, dead):
        try:
            await js.add_stream(**config)
        except BadRequestError:  # it exists, configured otherwise
            await js.update_stream(**config)


async def ensure_consumer(
    js: JetStreamContext, names: QueueNames, spec: ModelSpec, ack_wait_s: float
) -> None:
    """The workers' durable pull consumer, made by the first worker to start."""
    stream = names.stream(spec.queue_name)
    with contextlib.suppress(NotFoundError):
        await js.consumer_info(stream, WORKER_CONSUMER)
        return
    config = ConsumerConfig(
        durable_name=WORKER_CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=MAX_DELIVER_BACKSTOP,
        max_ack_pending=-1,
    )
    await js.add_consumer(stream, config)


class NatsTransport:
    """See ``message_broker.Transport``."""

    def __init__(self, url: str, names: QueueNames, gateway_id: str) -> None:
        self._url = url
        self._names = names
        self._gateway_id = gateway_id
        self.reply_to = names.reply_subject(gateway_id)
        self._client: Client | None = None
        self._seen: dict[str, dict[str, float]] = {}

    async def _js(self) -> JetStreamContext:
        if self._client is None:
            self._client = await connect(self._url, f"scaleserve-gateway-{self._gateway_id}")
        return self._client.jetstream()

    async def start(self, on_reply: Callable[[bytes], None]) -> None:
        await self._js()
        assert self._client is not None

        async def deliver(message: Msg) -> None:
            on_reply(message.data)

        await self._client.subscribe(self.reply_to, cb=deliver)
        await self._client.subscribe(self._names.alive_subject(">"), cb=self._on_alive)

    async def _on_alive(self, message: Msg) -> None:
        model, _, worker = message.data.decode(errors="replace").partition("\n")
        self._seen.setdefault(model, {})[worker] = time.monotonic()

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await self._client.close()

    async def declare(self, spec: ModelSpec) -> None:
        await ensure_stream(await self._js(), self._names, spec)

    async def publish(self, spec: ModelSpec, bodies: list[bytes]) -> None:
        js = await self._js()
        subject = self._names.work_subject(spec.queue_name)
        stream = self._names.stream(spec.queue_name)
        outcomes = await asyncio.gather(
            *(js.publish(subject, body, stream=stream, timeout=PUBLISH_TIMEOUT_S)
              for body in bodies),
            return_exceptions=True,
        )  # fmt: skip
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if not failures:
            return
        taken = [o.seq for o in outcomes if isinstance(o, PubAck)]
        await self._take_back(js, stream, taken)
        if any(isinstance(f, APIError) and f.err_code == STREAM_FULL for f in failures):
            raise Overloaded(spec.name, spec.max_queue_items)
        raise QueueUnavailable(f"NATS did not take the request: {failures[0]!r}")

    async def _take_back(self, js: JetStreamContext, stream: str, sequences: list[int]) -> None:
        """Delete the items of a refused request that the stream took (best effort: one a
        worker has already pulled runs, and the gateway drops its result)."""
        for sequence in sequences:
            with contextlib.suppress(*NATS_ERRORS):
                await js.delete_msg(stream, sequence)

    async def cancel(self, body: bytes) -> None:
        if self._client is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await self._client.publish(self._names.cancel_subject, body)

    async def stats(self, spec: ModelSpec) -> NatsStats:
        js = await self._js()
        stream = self._names.stream(spec.queue_name)
        workers = self._fresh_workers(spec.queue_name)
        try:
            info = await js.consumer_info(stream, WORKER_CONSUMER)
        except NotFoundError:  # no worker has started yet
            state = (await js.stream_info(stream)).state
            return NatsStats(state.messages, 0, workers)
        return NatsStats(info.num_pending or 0, info.num_ack_pending or 0, workers)

    def _fresh_workers(self, model: str) -> int:
        since = time.monotonic() - WORKER_FRESH_S
        seen = self._seen.get(model, {})
        for worker in [w for w, at in seen.items() if at < since]:
            del seen[worker]
        return len(seen)


def nats_broker(url: str, specs: list[ModelSpec], prefix: str) -> MessageBroker:
    """A gateway broker on the NATS at ``url`` (``nats://host:4222``), JetStream enabled."""
    names = QueueNames(prefix)
    return MessageBroker(lambda gateway_id: NatsTransport(url, names, gateway_id), specs)
