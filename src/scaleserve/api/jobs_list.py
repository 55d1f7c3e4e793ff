"""``GET /v1/jobs?status=&since=&limit=&cursor=``: a tenant's jobs, newest first, a page
at a time.

Embedded, the jobs are the SQLite job store's (every job still kept, ended or not). On
Redis they are the job history's (ended jobs, kept for good); without a history configured
the list answers 501. ``next_cursor`` asks for the page after (``null`` on the last page);
it is opaque to clients and checked when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import orjson
from pydantic import BaseModel, Field

from scaleserve.api.audit_routes import parse_time
from scaleserve.api.jobs import JobView
from scaleserve.errors import InvalidInput, NoJobHistory
from scaleserve.jobs.history import JobLister, JobQuery
from scaleserve.jobs.record import JobStatus, is_job_id

DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_CURSOR_CHARS = 200


class JobPage(BaseModel):
    jobs: list[JobView] = Field(description="The caller's jobs, newest first.")
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next (older) page; ``null`` on the last page."
    )


async def list_page(
    lister: JobLister | None,
    tenant: str,
    *,
    status: JobStatus | None,
    since: str | None,
    limit: int | None,
    cursor: str | None,
) -> bytes:
    """The JSON of one ``JobPage`` of ``tenant``'s jobs."""
    if lister is None:
        raise NoJobHistory()
    page_size = DEFAULT_PAGE if limit is None else limit
    query = JobQuery(
        status=status,
        since=_since(since) if since is not None else None,
        limit=page_size + 1,  # one more than the page tells whether another page follows
        after=decode_cursor(cursor) if cursor is not None else None,
    )
    jobs = await lister.list_jobs(tenant, query)
    page, more = jobs[:page_size], len(jobs) > page_size
    following = encode_cursor(page[-1].created_at, page[-1].id) if more else None
    body: dict[str, Any] = {"jobs": [job.view() for job in page], "next_cursor": following}
    return orjson.dumps(body)


def encode_cursor(created_at: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([created_at, job_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The ``(created_at, id)`` a cursor names; ``InvalidInput`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id = orjson.loads(raw)
        if isinstance(created_at, int | float) and math.isfinite(created_at) and is_job_id(job_id):
            return float(created_at), job_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        pass
    raise _invalid("cursor", "not a cursor this route gave")


def _since(value: str) -> float:
    since = parse_time(value, "since")
    if not math.isfinite(since):
        raise _invalid("since", f"{value!r} is not a time")
    return since


def _invalid(parameter: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"query.{parameter}: {message}",
        [{"loc": ["query", parameter], "msg": message, "type": "value_error"}],
    )


def not_with_ids(parameter: str) -> InvalidInput:
    """``ids`` reads given jobs; the list's parameters do not go with it."""
    return _invalid(parameter, "not allowed with ids: read given jobs, or list them, not both")
