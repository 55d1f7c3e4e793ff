"""The seam between the audit log and where its records are kept.

A store is written by one ``AuditSink`` per process (several processes may share it) and
read by the admin surface and the CLI. Days are UTC days.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Protocol

from scaleserve.audit.records import AuditRecord


class AuditStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write_many(self, records: Sequence[AuditRecord]) -> None:
        """Keep ``records``, all or none, in one round trip (one transaction)."""
        ...

    async def query(
        self,
        *,
        model: str,
        since: float,
        until: float | None = None,
        tenant: str | None = None,
        limit: int = 1000,
        after: tuple[float, str] | None = None,
    ) -> list[AuditRecord]:
        """``model``'s records with ``since <= ts < until`` (of ``tenant`` if given), ordered
        by ``(ts, request_id)``, at most ``limit``. ``after`` is a keyset cursor: the
        ``(ts, request_id)`` of the last record of the previous page."""
        ...

    async def drop_before(self, day: datetime.date) -> int:
        """Retention: remove the records of every day before ``day``; returns how many
        days (partitions) or rows were removed, as the backend counts them."""
        ...

    async def prepare(self, today: datetime.date, days_ahead: int) -> None:
        """Make ready to keep ``today``'s and the next ``days_ahead`` days' records
        (idempotent, safe from several processes at once); a no-op where nothing is needed."""
        ...
