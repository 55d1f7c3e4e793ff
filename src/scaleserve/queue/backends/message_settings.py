"""How a worker on RabbitMQ or NATS treats redeliveries."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class MessageSourceSettings:
    max_deliveries: int = 3
    """An item delivered more often than this (its workers kept dying) is dead-lettered."""
    ack_wait_s: float = 30.0
    """NATS: how long an item may stay unacknowledged before it goes to another worker
    (RabbitMQ redelivers as soon as the holding worker's connection dies)."""
    alive_every_s: float = 1.0

    @classmethod
    def from_env(cls) -> MessageSourceSettings:
        """``SCALESERVE_MAX_DELIVERIES`` and ``SCALESERVE_CLAIM_IDLE_S`` (the ack wait)
        override the defaults, as they do on Redis."""
        env = os.environ
        return cls(
            max_deliveries=int(env.get("SCALESERVE_MAX_DELIVERIES", cls.max_deliveries)),
            ack_wait_s=float(env.get("SCALESERVE_CLAIM_IDLE_S", cls.ack_wait_s)),
        )
