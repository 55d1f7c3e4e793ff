"""The transport floor of RabbitMQ and NATS JetStream: one item's round trip between two
processes through the broker, with no scaleserve code (``transport_floor.py`` does the same
for Redis and a Unix socket).

RabbitMQ: the client publishes (confirmed) to a quorum queue; the echoing process consumes
it with a manual ack and publishes the answer to the client's exclusive queue. NATS: the
client publishes to a work-queue stream (acknowledged by JetStream); the echoing process
pulls it, answers over core NATS and acks. The shape of scaleserve's path, without its work.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
import statistics
import time
import uuid

import aio_pika
import nats
import uvloop

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"


def rabbit_p50_ms(round_trips: int) -> float:
    return _p50(_rabbit_echo, _rabbit_client, round_trips)


def nats_p50_ms(round_trips: int) -> float:
    return _p50(_nats_echo, _nats_client, round_trips)


def _p50(echo: object, client: object, round_trips: int) -> float:
    name = f"floor-{uuid.uuid4().hex[:8]}"
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=echo, args=(name, ready))
    process.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the echoing process did not start")
        measured = client(name, round_trips)  # type: ignore[operator]
        return statistics.median(uvloop.run(asyncio.wait_for(measured, 300))) * 1e3
    finally:
        process.kill()
        process.join(10)


def _rabbit_echo(name: str, ready: multiprocessing.synchronize.Event) -> None:
    async def main() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=64)
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )

        async def echo(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            answer = aio_pika.Message(message.body)
            await channel.default_exchange.publish(answer, routing_key=message.reply_to or "")
            await message.ack()

        await queue.consume(echo)
        ready.set()
        await asyncio.Future()

    uvloop.run(main())


async def _rabbit_client(name: str, round_trips: int) -> list[float]:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        replies = await channel.declare_queue(exclusive=True)
        answers: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_answer(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            answers.put_nowait(message.body)

        await replies.consume(on_answer, no_ack=True)
        times = []
        for n in range(round_trips):
            start = time.perf_counter()
            message = aio_pika.Message(str(n).encode(), reply_to=replies.name,
                                       delivery_mode=aio_pika.DeliveryMode.PERSISTENT)  # fmt: skip
            await channel.default_exchange.publish(message, routing_key=name)
            await answers.get()
            times.append(time.perf_counter() - start)
        await channel.queue_delete(name)
        return times


def _nats_echo(name: str, ready: multiprocessing.synchronize.Event) -> None:
    async def main() -> None:
        client = await nats.connect(NATS_URL)
        js = client.jetstream()
        await js.add_stream(name=name, subjects=[name], retention="workqueue")
        pull = await js.pull_subscribe(name, durable="echo", stream=name)
        ready.set()
        while True:
            try:
                messages = await pull.fetch(64, timeout=1)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                await client.publish(message.headers["r"], message.data)  # type: ignore[index]
                await message.ack()

    uvloop.run(main())


async def _nats_client(name: str, round_trips: int) -> list[float]:
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    inbox = client.new_inbox()
    answers = await client.subscribe(inbox)
    times = []
    for n in range(round_trips):
        start = time.perf_counter()
        await js.publish(name, str(n).encode(), stream=name, headers={"r": inbox})
        await answers.next_msg(timeout=10)
        times.append(time.perf_counter() - start)
    await js.delete_stream(name)
    await client.close()
    return times
