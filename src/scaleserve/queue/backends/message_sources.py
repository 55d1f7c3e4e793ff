"""Opening a worker's source on RabbitMQ or NATS, by its URL's scheme; each client
library is imported only where its backend is used (extras ``rabbitmq`` and ``nats``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scaleserve.model.spec import ModelSpec
from scaleserve.queue.backends.message_settings import MessageSourceSettings
from scaleserve.queue.backends.queue_names import QueueNames

if TYPE_CHECKING:
    from scaleserve.queue.backends.nats_source import NatsWorkSource
    from scaleserve.queue.backends.rabbit_source import RabbitWorkSource


def _errors() -> tuple[type[Exception], ...]:
    """What losing the broker raises in a worker, from the client libraries installed."""
    found: list[type[Exception]] = []
    try:
        from aio_pika.exceptions import AMQPError

        found.append(AMQPError)
    except ImportError:
        pass
    try:
        from nats.errors import Error

        found.append(Error)
    except ImportError:
        pass
    return tuple(found)


MESSAGE_ERRORS = _errors()


async def open_message_source(
    url: str, spec: ModelSpec, prefix: str
) -> RabbitWorkSource | NatsWorkSource:
    names = QueueNames(prefix)
    settings = MessageSourceSettings.from_env()
    source: RabbitWorkSource | NatsWorkSource
    if url.startswith(("nats://", "tls://")):
        from scaleserve.queue.backends.nats_source import NatsWorkSource

        source = NatsWorkSource(url, spec, names, settings)
    else:
        from scaleserve.queue.backends.rabbit_source import RabbitWorkSource

        source = RabbitWorkSource(url, spec, names, settings)
    await source.start()
    return source
