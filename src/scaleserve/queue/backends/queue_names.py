"""Every RabbitMQ queue and exchange name, and every NATS subject and stream name, that
scaleserve uses, in one place (``redis_keys`` does this for Redis).

All names start with ``prefix`` so that one broker can hold several isolated deployments
(tests give each its own). NATS stream names may not hold dots, so streams use ``_``.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "scaleserve"
WORKER_CONSUMER = "workers"
"""The durable JetStream consumer every worker of a model pulls through."""


@dataclass(frozen=True)
class QueueNames:
    prefix: str = PREFIX

    # -- RabbitMQ ----------------------------------------------------------------------------
    def work_queue(self, model: str) -> str:
        """The quorum queue of ``model``'s items."""
        return f"{self.prefix}.queue.{model}"

    def dead_queue(self, model: str) -> str:
        """Where ``model``'s poison items end (bound to ``dead_exchange``)."""
        return f"{self.prefix}.dead.{model}"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def cancel_exchange(self) -> str:
        """Fanout exchange telling every worker that nobody waits for an item any more."""
        return f"{self.prefix}.cancel"

    @property
    def cancel_log(self) -> str:
        """The stream (bound to ``cancel_exchange``) that keeps cancellations for workers
        that start later."""
        return f"{self.prefix}.cancels"

    def reply_queue(self, gateway_id: str) -> str:
        """A gateway's own queue of results and stream chunks (exclusive, gone with it)."""
        return f"{self.prefix}.replies.{gateway_id}"

    # -- NATS JetStream ----------------------------------------------------------------------
    def stream(self, model: str) -> str:
        """The work-queue stream of ``model``'s items."""
        return f"{self.prefix}_queue_{model}".replace(".", "_")

    def work_subject(self, model: str) -> str:
        return f"{self.prefix}.queue.{model}"

    def dead_stream(self, model: str) -> str:
        return f"{self.prefix}_dead_{model}".replace(".", "_")

    def dead_subject(self, model: str) -> str:
        return f"{self.prefix}.dead.{model}"

    def reply_subject(self, gateway_id: str) -> str:
        """Core NATS subject of a gateway's results and stream chunks."""
        return f"{self.prefix}.replies.{gateway_id}"

    @property
    def cancel_subject(self) -> str:
        return f"{self.prefix}.cancel"

    def alive_subject(self, model: str) -> str:
        """Where ``model``'s workers say, once a second, that they take work."""
        return f"{self.prefix}.alive.{model}"
