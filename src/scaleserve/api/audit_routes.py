"""``GET /admin/audit``: the audit log on the admin listener, a page at a time.

Records of one model since a time (and until one, of one tenant), oldest first; the
response's ``next`` cursor asks for the page after. Times are unix seconds or ISO 8601.
"""

from __future__ import annotations

import base64
import datetime
import time
from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query

from scaleserve.audit.store import AuditStore
from scaleserve.errors import InvalidInput

MAX_PAGE = 1000


def parse_time(value: str, field: str) -> float:
    """Unix seconds, or an ISO 8601 date or time (UTC when it names no zone)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field}: {value!r} is neither unix seconds nor an ISO 8601 time",
            [{"loc": ["query", field], "msg": "not a time", "type": "value"}],
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def build_router(store: AuditStore) -> APIRouter:
    router = APIRouter(prefix="/admin/audit", tags=["audit"])

    @router.get("")
    async def audit(  # noqa: PLR0917 - query parameters, as FastAPI reads them
        model: Annotated[str, Query(min_length=1, max_length=128)],
        since: Annotated[str, Query(description="Unix seconds or ISO 8601.")],
        until: Annotated[str | None, Query()] = None,
        tenant: Annotated[str | None, Query(max_length=128)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> dict[str, Any]:
        """A page of one model's audit records, oldest first."""
        records = await store.query(
            model=model,
            since=parse_time(since, "since"),
            until=parse_time(until, "until") if until else time.time(),
            tenant=tenant,
            limit=limit,
            after=_decoded(cursor) if cursor else None,
        )
        following = (
            _encoded(records[-1].ts, records[-1].request_id) if len(records) == limit else None
        )
        return {"records": [asdict(r) for r in records], "next": following}

    return router


def _encoded(ts: float, request_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts, request_id])).decode()


def _decoded(cursor: str) -> tuple[float, str]:
    try:
        ts, request_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(ts), str(request_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput(
            "cursor: not a cursor this route gave",
            [{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value"}],
        ) from None
