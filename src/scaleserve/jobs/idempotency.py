"""Idempotent submission: ``Idempotency-Key`` on ``POST /v1/jobs`` and ``/v1/jobs/batch``.

A client that sends a submission again with the same key (it timed out, its connection
dropped, it was killed and restarted) gets the jobs of its first submission, never a second
copy. The key names the jobs: their ids are derived from the tenant, the key and each
job's place in the submission, so whichever gateway a retry reaches, the store's own
uniqueness turns a repeat into a replay, even when two copies race. A key is remembered as
long as its jobs are kept (``SCALESERVE_JOB_RESULT_TTL_S``, or the job history's
retention). A key sent again with another submission (other models, inputs or webhooks) is
refused (422): it names those jobs already.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence

from scaleserve.errors import IdempotencyKeyReused, InvalidInput, JobsExist
from scaleserve.jobs.record import JOB_ID_BYTES, Job
from scaleserve.jobs.store import JobStore, SubmitJobs

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def checked_key(value: str | None) -> str | None:
    """The header's key: 1 to 255 visible ASCII characters (``InvalidInput`` otherwise)."""
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise InvalidInput("header.idempotency-key: 1 to 255 visible ASCII characters (no spaces)")
    return value


def keyed(jobs: Sequence[Job], key: str) -> list[Job]:
    """``jobs`` with the ids that ``key`` gives them (the tenant's, in their order)."""
    return [dataclasses.replace(job, id=_job_id(job.tenant, key, n)) for n, job in enumerate(jobs)]


async def submit_once(
    store: JobStore, submit: SubmitJobs, jobs: list[Job]
) -> tuple[list[Job], bool]:
    """Submit keyed ``jobs``, or find those an earlier submission with the key made:
    (the jobs, whether they are the earlier ones)."""
    earlier = await _earlier(store, jobs)
    if earlier is not None:
        return earlier, True
    try:
        await submit(jobs)
    except JobsExist:
        earlier = await _earlier(store, jobs)
        if earlier is None:  # recorded, then gone at once: not a copy of this submission
            raise IdempotencyKeyReused() from None
        return earlier, True
    return jobs, False


async def _earlier(store: JobStore, jobs: list[Job]) -> list[Job] | None:
    """The jobs kept under these ids, if there are; ``IdempotencyKeyReused`` when they are
    not what ``jobs`` ask for."""
    kept = await store.get_many([job.id for job in jobs], jobs[0].tenant)
    if all(job is None for job in kept):
        return None
    found = [job for job in kept if job is not None]
    if len(found) != len(jobs) or not all(map(_same, found, jobs)):
        raise IdempotencyKeyReused()
    return found


def _same(kept: Job, asked: Job) -> bool:
    return (kept.model, kept.inputs, kept.webhook_url) == (
        asked.model,
        asked.inputs,
        asked.webhook_url,
    )


def _job_id(tenant: str, key: str, place: int) -> str:
    named = f"scaleserve-job\x1f{tenant}\x1f{key}\x1f{place}".encode()
    return hashlib.blake2b(named, digest_size=JOB_ID_BYTES).hexdigest()
