"""Usage accounting: what each tenant used of each model per day, and what it cost.

The gateway counts into a ``UsageRecorder`` (in memory, O(1) per request), which adds its
totals to a ``UsageStore`` every ``flush_interval_s`` and once more when it closes. A
flush that fails keeps its totals for the next one, so usage is never under-counted; a
flush whose outcome is unknown (Redis timed out after applying it) is sent again and may
count twice. Days are UTC dates, ``YYYY-MM-DD``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from scaleserve.errors import RequestError
from scaleserve.tenancy.records import Usage

log = logging.getLogger(__name__)

MEASURES = ("requests", "items", "errors", "compute_s", "tokens")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class UsageStore(Protocol):
    """Running usage totals per ``(tenant, model, day)``."""

    async def add(self, deltas: Sequence[Usage]) -> None:
        """Add each delta to the totals of its ``(tenant, model, day)``: all of them or
        none (one transaction). A store that cannot be reached raises ``QueueUnavailable``."""
        ...

    async def query(
        self, tenant: str | None, since_day: str | None = None, until_day: str | None = None
    ) -> list[Usage]:
        """The totals of ``tenant`` (``None``: every tenant) per model and day, days within
        ``since_day``..``until_day`` (both included; ``None``: open), sorted by tenant,
        model and day."""
        ...


def utc_day(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).date().isoformat()


def check_day(day: str | None) -> str | None:
    """``day`` if it is ``None`` or a real ``YYYY-MM-DD`` date, else ``RequestError``."""
    if day is None or (_DAY.fullmatch(day) is not None and _real_date(day)):
        return day
    raise RequestError(f"invalid day {day[:32]!r}: use YYYY-MM-DD")


def _real_date(day: str) -> bool:
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    return True


def in_days(day: str, since_day: str | None, until_day: str | None) -> bool:
    return (since_day is None or day >= since_day) and (until_day is None or day <= until_day)


@dataclass(slots=True)
class _Totals:
    requests: int = 0
    items: int = 0
    errors: int = 0
    compute_s: float = 0.0
    tokens: int = 0

    def add(self, other: _Totals) -> None:
        self.requests += other.requests
        self.items += other.items
        self.errors += other.errors
        self.compute_s += other.compute_s
        self.tokens += other.tokens


_Slot = tuple[str, str, str]  # tenant, model, day


class UsageRecorder:
    """The gateway's usage counter. ``record`` only adds in memory; ``flush`` (run every
    ``flush_interval_s`` between ``start`` and ``close``, and by ``close``) moves the
    totals to ``store``. Use it as ``async with UsageRecorder(store) as recorder:``."""

    def __init__(
        self,
        store: UsageStore,
        flush_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._interval_s = flush_interval_s
        self._clock = clock
        self._pending: dict[_Slot, _Totals] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(
        self,
        tenant: str,
        model: str,
        *,
        requests: int = 0,
        items: int = 0,
        errors: int = 0,
        compute_s: float = 0.0,
        tokens: int = 0,
    ) -> None:
        """Count usage of ``model`` by ``tenant`` today (UTC, by the recorder's clock)."""
        slot = (tenant, model, utc_day(self._clock()))
        totals = self._pending.get(slot)
        if totals is None:
            totals = self._pending[slot] = _Totals()
        totals.add(_Totals(requests, items, errors, compute_s, tokens))

    @property
    def pending(self) -> list[Usage]:
        """What was recorded and not yet flushed."""
        return [_usage(slot, totals) for slot, totals in self._pending.items()]

    async def flush(self) -> None:
        """Add everything recorded so far to the store. On failure the totals are kept for
        the next flush and the store's error is raised."""
        batch, self._pending = self._pending, {}
        if not batch:
            return
        try:
            await self._store.add([_usage(slot, totals) for slot, totals in batch.items()])
        except BaseException:
            self._merge(batch)
            raise

    async def start(self) -> None:
        """Flush every ``flush_interval_s`` in the background until ``close``."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._flush_regularly())

    async def close(self) -> None:
        """Stop flushing in the background, then flush what is left. A store that fails
        now is logged, not raised: the process is stopping either way."""
        if self._task is not None:
            # the loop is stopped between flushes, never cancelled inside one: a write
            # cut off half way could have been applied and would be sent again
            self._stopping.set()
            await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            lost = len(self._pending)
            log.exception("usage of %d (tenant, model, day) slots was not saved", lost)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _flush_regularly(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)
            if self._stopping.is_set():
                return  # close() flushes
            try:
                await self.flush()
            except Exception as exc:
                log.warning("usage flush failed, retrying in %gs: %s", self._interval_s, exc)

    def _merge(self, batch: dict[_Slot, _Totals]) -> None:
        for slot, totals in batch.items():
            mine = self._pending.get(slot)
            if mine is None:
                self._pending[slot] = totals
            else:
                mine.add(totals)


def _usage(slot: _Slot, totals: _Totals) -> Usage:
    tenant, model, day = slot
    return Usage(
        tenant,
        model,
        day,
        totals.requests,
        totals.items,
        totals.errors,
        totals.compute_s,
        totals.tokens,
    )


def cost(
    usage: Usage, price_per_compute_s: float | None, price_per_1k_items: float | None
) -> float | None:
    """What ``usage`` cost at these prices; ``None`` when there is no price at all."""
    if price_per_compute_s is None and price_per_1k_items is None:
        return None
    total = 0.0
    if price_per_compute_s is not None:
        total += usage.compute_s * price_per_compute_s
    if price_per_1k_items is not None:
        total += usage.items / 1000 * price_per_1k_items
    return total


def cost_per_1k_predictions(
    usage: Usage, price_per_compute_s: float | None, price_per_1k_items: float | None
) -> float | None:
    """The cost of a thousand predictions (items); ``None`` with no price or no items."""
    total = cost(usage, price_per_compute_s, price_per_1k_items)
    if total is None or usage.items == 0:
        return None
    return total / usage.items * 1000


def summarize(rows: Iterable[Usage]) -> list[Usage]:
    """Sum ``rows`` over days per ``(tenant, model)``, sorted. The sum's ``day`` is the span
    it covers, ``"{first}..{last}"``, or the day itself when it is one."""
    spans: dict[tuple[str, str], tuple[str, str]] = {}
    sums: dict[tuple[str, str], _Totals] = {}
    for row in rows:
        pair = (row.tenant, row.model)
        first, last = spans.get(pair, (row.day, row.day))
        spans[pair] = (min(first, row.day), max(last, row.day))
        sums.setdefault(pair, _Totals()).add(
            _Totals(row.requests, row.items, row.errors, row.compute_s, row.tokens)
        )
    return [_usage((*pair, _span(*spans[pair])), sums[pair]) for pair in sorted(sums)]


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first}..{last}"
