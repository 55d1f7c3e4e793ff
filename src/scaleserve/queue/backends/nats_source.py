"""Worker side of the NATS JetStream queue.

A worker pulls up to one batch at a time through its model's durable consumer and
acknowledges each item after its result went to the gateway (over core NATS). An item
not acknowledged within ``AckWait`` (its worker died or stalled) is delivered again, to
any worker; a streamed item's chunks keep it in progress. Redelivered items are suspects
and run alone, and one delivered more than ``max_deliveries`` times goes to the dead-letter
subject, its request failing. Items whose deadline passed are answered as expired by the
runner, unrun.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import time
from collections import deque

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from scaleserve.errors import StreamCancelled
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends import message_wire
from scaleserve.queue.backends.message_settings import MessageSourceSettings
from scaleserve.queue.backends.message_wire import (
    CancelledItems,
    Envelope,
    MalformedMessage,
    Reply,
)
from scaleserve.queue.backends.nats_broker import (
    NATS_ERRORS,
    connect,
    ensure_consumer,
    ensure_stream,
)
from scaleserve.queue.backends.queue_names import WORKER_CONSUMER, QueueNames
from scaleserve.types import FailureKind, ItemResult, WorkItem

log = logging.getLogger(__name__)
POLL_S = 1.0
"""Longest single pull, so that a stop request is seen in time."""


class NatsWorkSource:
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
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self._client: Client | None = None
        self._pull: JetStreamContext.PullSubscription | None = None
        self._fetched: deque[Msg] = deque()
        self._held: dict[int, tuple[Msg, Envelope]] = {}
        self._ids = itertools.count(1)
        self._cancelled = CancelledItems()
        self._next_beat = 0.0
        self._closing = False

    @property
    def closing(self) -> bool:
        return self._closing

    async def start(self) -> None:
        client = self._client = await connect(self._url, f"scaleserve-worker-{self.worker_id}")
        js = client.jetstream()
        await ensure_stream(js, self._names, self._spec)
        await ensure_consumer(js, self._names, self._spec, self._settings.ack_wait_s)
        stream = self._names.stream(self._spec.queue_name)
        self._pull = await js.pull_subscribe_bind(WORKER_CONSUMER, stream=stream)
        await client.subscribe(self._names.cancel_subject, cb=self._on_cancel)

    async def _on_cancel(self, message: Msg) -> None:
        with contextlib.suppress(ValueError):
            self._cancelled.add(message_wire.decode_cancel(message.data))

    def request_stop(self) -> None:
        self._closing = True

    async def close(self) -> None:
        """Give back what was pulled and not answered (delivered again at once), then close."""
        if self._client is None:
            return
        unanswered = [*self._fetched, *(message for message, _ in self._held.values())]
        with contextlib.suppress(*NATS_ERRORS):
            for message in unanswered:
                await message.nak()
            await self._client.flush(timeout=2)
        with contextlib.suppress(*NATS_ERRORS):
            await self._client.close()  # not drain(): a pull still open would hold it up

    async def read(self, max_items: int, timeout_s: float | None) -> list[WorkItem]:
        give_up_at = None if timeout_s is None else time.monotonic() + timeout_s
        items: list[WorkItem] = []
        while not self._closing and not items:
            await self._beat_if_due()
            wait_s = POLL_S if give_up_at is None else give_up_at - time.monotonic()
            if not self._fetched:
                await self._fetch(max_items, min(wait_s, POLL_S))
            items = await self._take(max_items)
            if give_up_at is not None and time.monotonic() >= give_up_at:
                break
        return items

    async def _fetch(self, max_items: int, wait_s: float) -> None:
        if self._pull is None:
            raise RuntimeError("the source is not started")
        try:
            self._fetched.extend(await self._pull.fetch(max_items, timeout=max(wait_s, 0.001)))
        except (NatsTimeoutError, TimeoutError):
            return

    async def _take(self, max_items: int) -> list[WorkItem]:
        """Items from what was pulled; a suspect (a redelivery) alone."""
        items: list[WorkItem] = []
        while self._fetched and len(items) < max_items:
            suspect = self._fetched[0].metadata.num_delivered > 1
            if suspect and items:
                break
            item = await self._admit(self._fetched.popleft())
            if item is not None:
                items.append(item)
                if suspect:
                    break
        return items

    async def _beat_if_due(self) -> None:
        """Say "alive" at most once per ``alive_every_s`` (gateways count ready workers)."""
        if self._client is None or time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + self._settings.alive_every_s
        subject = self._names.alive_subject(self._spec.queue_name)
        await self._client.publish(subject, f"{self._spec.queue_name}\n{self.worker_id}".encode())

    async def _admit(self, message: Msg) -> WorkItem | None:
        """The work item of ``message``, unless it is poison: then it is dead-lettered."""
        deliveries = message.metadata.num_delivered
        try:
            envelope = message_wire.decode_envelope(message.data)
        except MalformedMessage as exc:
            await self._dead_letter(message, None, f"malformed item: {exc}")
            return None
        if (envelope.reply_to, envelope.item_id) in self._cancelled:
            await message.ack()  # withdrawn by its gateway, which waits for it no more
            return None
        if deliveries > self._settings.max_deliveries:
            why = f"delivered {deliveries} times; its worker died or stalled each time"
            await self._dead_letter(message, envelope, why)
            return None
        local_id = next(self._ids)
        self._held[local_id] = (message, envelope)
        return WorkItem(
            local_id, envelope.payload, envelope.deadline, envelope.enqueued_at,
            stream=envelope.stream, trace=envelope.trace,
        )  # fmt: skip

    async def _dead_letter(self, message: Msg, envelope: Envelope | None, why: str) -> None:
        """Park the item on the dead-letter subject and fail whoever waits on it."""
        log.error("dead-lettering an item of %r: %s", self._spec.name, why)
        client = self._require_client()
        subject = self._names.dead_subject(self._spec.queue_name)
        await client.jetstream().publish(subject, message.data, headers={"reason": why})
        if envelope is not None:
            failure = ItemResult(envelope.item_id, failure=FailureKind.MODEL, error=why)
            await self._publish(envelope.reply_to, Reply(envelope.item_id, result=failure))
        await message.term()

    async def reply(self, results: list[ItemResult]) -> None:
        for result in results:
            message, envelope = self._held.pop(result.id)
            answer = message_wire.result_reply(result, envelope.item_id)
            await self._publish(envelope.reply_to, answer)
            await message.ack()  # after the result went out: a crash before means a redelivery

    async def send_chunk(self, item_id: int, data: bytes) -> None:
        message, envelope = self._held[item_id]
        if (envelope.reply_to, envelope.item_id) in self._cancelled:
            raise StreamCancelled(item_id)
        await self._publish(envelope.reply_to, Reply(envelope.item_id, chunk=data))
        await message.in_progress()  # a long stream is not redelivered under its worker

    async def _publish(self, reply_to: str, reply: Reply) -> None:
        await self._require_client().publish(reply_to, message_wire.encode(reply))

    def _require_client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the source is not started")
        return self._client
