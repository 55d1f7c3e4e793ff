"""Every Redis key and stream name scaleserve uses, in one place.

All names start with ``PREFIX`` so that one Redis can be shared with other applications
(and, in tests, several isolated scaleserve deployments: ``RedisKeys("ss-test-1")``).
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "scaleserve"
WORKER_GROUP = "workers"
WEBHOOK_GROUP = "webhooks"


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = PREFIX

    # -- the queue ---------------------------------------------------------------------------
    def stream(self, model: str) -> str:
        """Items waiting for a worker of ``model`` (a stream with consumer group ``workers``)."""
        return f"{self.prefix}:queue:{model}"

    def dead_letters(self, model: str) -> str:
        """Items that were delivered too often (their worker kept dying), kept for inspection."""
        return f"{self.prefix}:dead:{model}"

    def depth(self, model: str) -> str:
        """Items of ``model`` queued or running: the admission bound is checked against it."""
        return f"{self.prefix}:depth:{model}"

    def workers(self, model: str) -> str:
        """Sorted set of worker ids of ``model`` scored by the time they last asked for work."""
        return f"{self.prefix}:workers:{model}"

    def replies(self, gateway_id: str) -> str:
        """Results (and streamed chunks) of sync requests, for the gateway waiting on them."""
        return f"{self.prefix}:replies:{gateway_id}"

    def stream_cancelled(self, reply_to: str, item_id: int) -> str:
        """Set (briefly) when the client of a streamed item left: its worker stops generating."""
        return f"{reply_to}:cancelled:{item_id}"

    # -- jobs --------------------------------------------------------------------------------
    def job(self, job_id: str) -> str:
        """Hash: the job record."""
        return f"{self.prefix}:job:{job_id}"

    def job_outputs(self, job_id: str) -> str:
        """Hash: item index -> output JSON, first writer wins."""
        return f"{self.prefix}:job:{job_id}:outputs"

    def job_events(self, job_id: str) -> str:
        """Stream of the job's status changes, entry ids ``0-<seq>``."""
        return f"{self.prefix}:job:{job_id}:events"

    def webhooks(self) -> str:
        """Stream of ended jobs whose webhook must be delivered (consumer group ``webhooks``)."""
        return f"{self.prefix}:webhooks"
