"""Each queue backend, as the conformance suite drives it: a started gateway broker, the
command-line arguments that point a worker process at it, its dead letters, and cleanup."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import nats
from nats.js.errors import NotFoundError
from redis.asyncio import Redis

from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.embedded import EmbeddedBroker
from scaleserve.queue.backends.nats_broker import nats_broker
from scaleserve.queue.backends.queue_names import QueueNames
from scaleserve.queue.backends.rabbit_broker import rabbit_broker
from scaleserve.queue.backends.redis_broker import RedisBroker
from scaleserve.queue.backends.redis_connection import connect
from scaleserve.queue.broker import Broker
from scaleserve.redis_keys import RedisKeys
from tests.queue.cleanup import delete_nats, delete_rabbit


@dataclass
class Backend:
    name: str
    url: str
    prefix: str
    redelivers: bool = True
    """Hands a dead worker's items to another worker (else the request fails: WorkerLost)."""
    socket_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="ss-conf-"))

    @contextlib.asynccontextmanager
    async def gateway(self, spec: ModelSpec) -> AsyncIterator[Broker]:
        async with contextlib.AsyncExitStack() as stack:
            broker = self._broker(spec, stack)
            await broker.start()
            stack.push_async_callback(broker.close)
            yield broker

    def _broker(self, spec: ModelSpec, stack: contextlib.AsyncExitStack) -> Broker:
        if self.name == "embedded":
            return EmbeddedBroker(self.socket_path, [spec])
        if self.name == "redis":
            redis = connect(self.url)
            stack.push_async_callback(redis.aclose)
            return RedisBroker(redis, [spec], RedisKeys(self.prefix))
        if self.name == "rabbitmq":
            return rabbit_broker(self.url, [spec], self.prefix)
        return nats_broker(self.url, [spec], self.prefix)

    @property
    def socket_path(self) -> str:
        return str(Path(self.socket_dir) / "queue.sock")

    def worker_args(self) -> list[str]:
        if self.name == "embedded":
            return ["--socket", self.socket_path]
        if self.name == "redis":
            return ["--redis", self.url, "--redis-prefix", self.prefix]
        return ["--queue", self.url, "--redis-prefix", self.prefix]

    async def dead_letters(self, model: str) -> int | None:
        """Items parked as dead letters (``None``: this backend keeps none)."""
        names = QueueNames(self.prefix)
        if self.name == "redis":
            redis = connect(self.url)
            try:
                return int(await redis.xlen(RedisKeys(self.prefix).dead_letters(model)))
            finally:
                await redis.aclose()
        return await self._held_by_broker(names.dead_queue(model), names.dead_stream(model))

    async def queued(self, model: str) -> int | None:
        """Items the broker holds for ``model`` now, asked of it directly (``None``: the
        gateway's own count is live on this backend)."""
        names = QueueNames(self.prefix)
        return await self._held_by_broker(names.work_queue(model), names.stream(model))

    async def _held_by_broker(self, rabbit_queue: str, nats_stream: str) -> int | None:
        """The messages in a RabbitMQ queue or a JetStream stream (``None`` elsewhere)."""
        if self.name == "rabbitmq":
            connection = await aio_pika.connect(self.url)
            async with connection:
                channel = await connection.channel()
                queue = await channel.declare_queue(rabbit_queue, passive=True)
                return int(queue.declaration_result.message_count or 0)
        if self.name == "nats":
            client = await nats.connect(self.url)
            try:
                info = await client.jetstream().stream_info(nats_stream)
                return int(info.state.messages)
            finally:
                await client.close()
        return None

    async def clean(self, models: list[str]) -> None:
        names = QueueNames(self.prefix)
        if self.name == "redis":
            redis: Redis = connect(self.url)
            try:
                stale = [key async for key in redis.scan_iter(match=f"{self.prefix}:*")]
                if stale:
                    await redis.delete(*stale)
            finally:
                await redis.aclose()
        elif self.name == "rabbitmq":
            await delete_rabbit(self.url, names, models)
        elif self.name == "nats":
            with contextlib.suppress(NotFoundError):
                await delete_nats(self.url, names, models)
