"""Every Redis key and stream name scaleserve uses, in one place.

All names start with ``PREFIX`` so that one Redis can be shared with other applications
(and, in tests, several isolated scaleserve deployments: ``RedisKeys("ss-test-1")``).
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "scaleserve"
WORKER_GROUP = "workers"
WEBHOOK_GROUP = "webhooks"
HISTORY_GROUP = "history"


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

    def job_changes(self) -> str:
        """Stream (capped): one entry per job script that changed jobs, naming their hashes;
        gateways read it to wake whoever waits on those jobs."""
        return f"{self.prefix}:job-changes"

    def job_id_of(self, job_hash: str) -> str:
        """The job id in the name of a job's hash (``job``'s inverse)."""
        return job_hash.removeprefix(f"{self.prefix}:job:")

    def webhooks(self) -> str:
        """Stream of ended jobs whose webhook must be delivered (consumer group ``webhooks``)."""
        return f"{self.prefix}:webhooks"

    def ended_jobs(self) -> str:
        """Stream (capped) of ended jobs, each to be copied to the job history (consumer
        group ``history``)."""
        return f"{self.prefix}:jobs-ended"

    def lane_failure(self, lane: str) -> str:
        """Why a version's workers cannot load (set briefly by a worker that failed to)."""
        return f"{self.prefix}:lane-failure:{lane}"

    # -- rollouts ----------------------------------------------------------------------------
    def rollout_tally(self, model: str, window: str) -> str:
        """Hash: one rollout step's tallies (requests, errors, latency buckets per lane;
        shadow agreements), added up by every gateway."""
        return f"{self.prefix}:rollout:{model}:{window}"

    # -- tenancy -----------------------------------------------------------------------------
    def tenants(self) -> str:
        """Set of every tenant name (the reserved admin owner included)."""
        return f"{self.prefix}:tenants"

    def tenant(self, name: str) -> str:
        """Hash: the tenant record (limits, created and revoked times)."""
        return f"{self.prefix}:tenant:{name}"

    def tenant_keys(self, name: str) -> str:
        """Set of the ids of the tenant's API keys."""
        return f"{self.prefix}:tenant:{name}:keys"

    def api_key(self, key_hash: str) -> str:
        """Hash: one API key's record, found by the keyed hash of the key."""
        return f"{self.prefix}:apikey:{key_hash}"

    def api_key_ids(self) -> str:
        """Hash: API key id -> keyed hash of the key (to revoke or list keys by id)."""
        return f"{self.prefix}:apikey-ids"

    def key_pepper(self) -> str:
        """The secret that API keys are hashed with, shared by every gateway."""
        return f"{self.prefix}:key-pepper"

    def usage(self, tenant: str) -> str:
        """Hash: ``{model}|{day}|{measure}`` -> the tenant's running total."""
        return f"{self.prefix}:usage:{tenant}"

    def rate_buckets(self, tenant: str) -> str:
        """Hash: the tenant's token buckets (tokens and last refill time per bucket)."""
        return f"{self.prefix}:limit:{tenant}:buckets"

    def daily_counts(self, tenant: str, day: str) -> str:
        """Hash: the tenant's requests and items admitted on ``day`` (expires after it)."""
        return f"{self.prefix}:limit:{tenant}:day:{day}"

    def in_flight(self, tenant: str) -> str:
        """Sorted set: the tenant's requests in flight, scored by when their lease expires."""
        return f"{self.prefix}:limit:{tenant}:inflight"

    # -- features ----------------------------------------------------------------------------
    def feature_row(self, tenant: str, view: str, entity: str) -> str:
        """Hash: feature name -> event time and value, of one entity of a tenant's view."""
        return f"{self.prefix}:features:{tenant}:{view}:{entity}"
