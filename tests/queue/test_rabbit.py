"""What only the RabbitMQ queue does (what it shares with NATS is in
``test_message_brokers``)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import orjson
import pytest

from scaleserve.errors import Overloaded
from scaleserve.queue.backends.queue_names import QueueNames
from scaleserve.queue.backends.rabbit_broker import rabbit_broker
from tests.helpers import until
from tests.queue.helpers import payloads, started
from tests.queue.test_message_brokers import KINDS, SPEC, gateway, worker

RABBITMQ = KINDS["rabbitmq"]


@pytest.fixture
async def names(amqp_url: str, queue_prefix: str) -> AsyncIterator[QueueNames]:
    names = QueueNames(queue_prefix)
    yield names
    await RABBITMQ.delete(amqp_url, names, [SPEC.queue_name])


async def test_a_changed_bound_keeps_the_queue_and_its_items_and_is_checked_by_the_gateway(
    amqp_url: str, names: QueueNames, caplog: pytest.LogCaptureFixture
) -> None:
    """RabbitMQ cannot change a queue's arguments: a gateway and a worker whose model asks
    for another bound start anyway, on the queue as it is, and refuse past the new bound."""
    async with gateway(RABBITMQ, amqp_url, names) as broker:
        waiting = asyncio.create_task(broker.submit("tens", payloads(4), timeout_s=30))
        await until(lambda: broker.depth("tens") == 1)
        smaller = dataclasses.replace(SPEC, max_queue_items=3)
        with caplog.at_level(logging.WARNING):
            async with started(rabbit_broker(amqp_url, [smaller], names.prefix)) as other:
                assert "exists with other arguments" in caplog.text
                with pytest.raises(Overloaded):
                    await other.submit("tens", payloads(1, 2, 3, 4), timeout_s=10)
                async with worker(RABBITMQ, amqp_url, names):
                    assert [orjson.loads(o) for o in await waiting] == [40]
                    outputs = await other.submit("tens", payloads(5), timeout_s=10)
    assert [orjson.loads(o) for o in outputs] == [50]
