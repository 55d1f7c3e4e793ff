"""Deleting what a test made on RabbitMQ or NATS (each test has its own name prefix)."""

from __future__ import annotations

import contextlib

import aio_pika
import nats
from nats.js.errors import NotFoundError

from scaleserve.queue.backends.queue_names import QueueNames


async def delete_rabbit(url: str, names: QueueNames, models: list[str]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for model in models:
            await channel.queue_delete(names.work_queue(model))
            await channel.queue_delete(names.dead_queue(model))
        await channel.exchange_delete(names.dead_exchange)
        await channel.exchange_delete(names.cancel_exchange)


async def delete_nats(url: str, names: QueueNames, models: list[str]) -> None:
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        for model in models:
            for stream in (names.stream(model), names.dead_stream(model)):
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(stream)
    finally:
        await client.close()
