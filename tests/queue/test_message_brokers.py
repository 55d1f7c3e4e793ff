"""The RabbitMQ and NATS JetStream queues, each in one event loop against the real broker
on loopback (the properties every backend shares are in ``tests/queue/conformance``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aio_pika
import nats
import orjson
import pytest

import scaleserve
from scaleserve.errors import ModelFailed, Overloaded, QueueUnavailable
from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.message_broker import MessageBroker
from scaleserve.queue.backends.message_settings import MessageSourceSettings
from scaleserve.queue.backends.nats_broker import nats_broker
from scaleserve.queue.backends.nats_source import NatsWorkSource
from scaleserve.queue.backends.queue_names import QueueNames
from scaleserve.queue.backends.rabbit_broker import rabbit_broker
from scaleserve.queue.backends.rabbit_source import RabbitWorkSource
from scaleserve.worker.loop import batch_policy, work_loop
from scaleserve.worker.runner import ModelRunner
from tests.helpers import until
from tests.queue.cleanup import delete_nats, delete_rabbit
from tests.queue.helpers import payloads, started


class Tens(scaleserve.Model):
    """Multiplies by ten; -1 raises."""

    name = "tens"
    max_batch_size = 4
    max_queue_items = 8

    def predict(self, batch: list[int]) -> list[int]:
        if -1 in batch:
            raise RuntimeError("minus one")
        return [x * 10 for x in batch]


SPEC = ModelSpec.from_class(Tens)


async def fill_rabbit(url: str, names: QueueNames) -> None:
    """Fill the queue as another gateway would (a quorum queue takes one past its length)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for _ in range(SPEC.max_queue_items + 1):
            await channel.default_exchange.publish(aio_pika.Message(b"x"), names.work_queue("tens"))


async def fill_nats(url: str, names: QueueNames) -> None:
    client = await nats.connect(url)
    try:
        for _ in range(SPEC.max_queue_items):
            await client.jetstream().publish(names.work_subject("tens"), b"x")
    finally:
        await client.close()


@dataclass(frozen=True)
class Kind:
    """One message broker, as these tests drive it."""

    url_fixture: str
    broker: Callable[[str, list[ModelSpec], str], MessageBroker]
    source: type[RabbitWorkSource] | type[NatsWorkSource]
    delete: Callable[[str, QueueNames, list[str]], Awaitable[None]]
    fill: Callable[[str, QueueNames], Awaitable[None]]
    unreachable: str


KINDS = {
    "rabbitmq": Kind(
        "amqp_url", rabbit_broker, RabbitWorkSource, delete_rabbit, fill_rabbit,
        "amqp://guest:guest@127.0.0.1:1/",
    ),
    "nats": Kind(
        "nats_url", nats_broker, NatsWorkSource, delete_nats, fill_nats, "nats://127.0.0.1:1"
    ),
}  # fmt: skip


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


@pytest.fixture
def url(kind: Kind, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(kind.url_fixture))


@pytest.fixture
async def names(kind: Kind, url: str, queue_prefix: str) -> AsyncIterator[QueueNames]:
    names = QueueNames(queue_prefix)
    yield names
    await kind.delete(url, names, [SPEC.queue_name])


@contextlib.asynccontextmanager
async def worker(kind: Kind, url: str, names: QueueNames) -> AsyncIterator[None]:
    source = kind.source(url, SPEC, names, MessageSourceSettings(max_deliveries=2))
    await source.start()
    task = asyncio.create_task(work_loop(source, ModelRunner(SPEC, Tens()), batch_policy(SPEC)))
    try:
        yield
    finally:
        source.request_stop()
        async with asyncio.timeout(10):
            await task
        await source.close()


def gateway(
    kind: Kind, url: str, names: QueueNames
) -> contextlib.AbstractAsyncContextManager[MessageBroker]:
    return started(kind.broker(url, [SPEC], names.prefix))


async def test_sync_request_round_trips_in_order(kind: Kind, url: str, names: QueueNames) -> None:
    async with gateway(kind, url, names) as broker, worker(kind, url, names):
        outputs = await broker.submit("tens", payloads(1, 2, 3), timeout_s=10)
        assert [orjson.loads(o) for o in outputs] == [10, 20, 30]
        await until(lambda: broker.ready_workers("tens") == 1)


async def test_model_error_reaches_the_caller(kind: Kind, url: str, names: QueueNames) -> None:
    async with gateway(kind, url, names) as broker, worker(kind, url, names):
        with pytest.raises(ModelFailed, match="minus one"):
            await broker.submit("tens", payloads(-1), timeout_s=10)


async def test_the_gateway_refuses_past_the_bound(kind: Kind, url: str, names: QueueNames) -> None:
    """Without a worker the queue fills; the gateway counts what it has in flight."""
    async with gateway(kind, url, names) as broker:
        waiting = asyncio.gather(
            *(broker.submit("tens", payloads(i), timeout_s=5) for i in range(8)),
            return_exceptions=True,
        )
        await until(lambda: broker.depth("tens") == SPEC.max_queue_items)
        with pytest.raises(Overloaded):
            await broker.submit("tens", payloads(99), timeout_s=5)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting


async def test_the_broker_refuses_what_another_gateway_left_no_room_for(
    kind: Kind, url: str, names: QueueNames
) -> None:
    """Another gateway filled the queue: this one's stale count lets the request through,
    and the broker's own limit (RabbitMQ ``reject-publish``, JetStream ``max_msgs`` with
    ``discard: new``) refuses it."""
    async with gateway(kind, url, names) as broker:
        await kind.fill(url, names)
        with pytest.raises(Overloaded):
            await broker.submit("tens", payloads(1), timeout_s=5)


async def test_an_unreachable_broker_fails_with_queue_unavailable(kind: Kind) -> None:
    broker = kind.broker(kind.unreachable, [SPEC], "unused")
    with pytest.raises(QueueUnavailable):
        await broker.start()
