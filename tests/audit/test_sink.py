"""The sink: bounded, off the hot path, flushes on close, survives a failing store."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence

import pytest

from scaleserve.audit.records import AuditRecord
from scaleserve.audit.sink import AuditSink
from scaleserve.errors import ConfigError
from tests.audit.conftest import record


class GatedStore:
    """An audit store whose writes wait for ``gate``; ``entered`` is set when one starts."""

    def __init__(self, *, fail: bool = False) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.batches: list[list[AuditRecord]] = []
        self.calls = 0
        self.fail = fail

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write_many(self, records: Sequence[AuditRecord]) -> None:
        self.calls += 1
        self.entered.set()
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("the database is gone")
        self.batches.append(list(records))

    async def query(self, **_: object) -> list[AuditRecord]:
        return []

    async def drop_before(self, day: datetime.date) -> int:
        return 0

    async def prepare(self, today: datetime.date, days_ahead: int) -> None: ...


def many(count: int, start: int = 0) -> list[AuditRecord]:
    return [record(1000.0 + n, f"r{n:05}") for n in range(start, start + count)]


async def test_full_buffer_refuses_and_counts_while_the_store_blocks():
    store = GatedStore()
    sink = AuditSink(store, capacity=4, batch_size=2, flush_interval_s=60)
    await sink.start()
    assert all(sink.offer(r) for r in many(2))  # a full batch wakes the writer
    await store.entered.wait()  # ... which takes it and blocks in the store
    assert all(sink.offer(r) for r in many(2, start=2))  # in flight counts: 4 held
    assert [sink.offer(r) for r in many(3, start=4)] == [False, False, False]
    assert sink.dropped == 3 and sink.written == 0
    store.gate.set()
    await sink.close()
    assert [r.request_id for b in store.batches for r in b] == [f"r{n:05}" for n in range(4)]
    assert sink.written == 4 and sink.dropped == 3


async def test_offer_never_waits_on_the_store():
    store = GatedStore()
    sink = AuditSink(store, capacity=100, batch_size=1, flush_interval_s=60)
    await sink.start()
    results = [sink.offer(r) for r in many(150)]  # synchronous: no await between offers
    assert results.count(True) == 100 and sink.dropped == 50
    store.gate.set()
    await sink.close()
    assert sink.written == 100


async def test_close_flushes_a_partial_batch():
    store = GatedStore()
    store.gate.set()
    sink = AuditSink(store, batch_size=500, flush_interval_s=3600)
    await sink.start()
    records = many(7)
    for r in records:
        sink.offer(r)
    await sink.close()
    assert store.batches == [records]
    assert sink.written == 7
    assert sink.offer(records[0]) is False  # closed: refused, counted
    assert sink.dropped == 1


async def test_batches_are_at_most_batch_size():
    store = GatedStore()
    store.gate.set()
    sink = AuditSink(store, capacity=1000, batch_size=10, flush_interval_s=3600)
    for r in many(35):
        sink.offer(r)
    await sink.start()
    await sink.close()
    assert [len(b) for b in store.batches] == [10, 10, 10, 5]


async def test_a_partial_batch_is_written_after_the_flush_interval():
    store = GatedStore()
    store.gate.set()
    sink = AuditSink(store, batch_size=500, flush_interval_s=0.01)
    await sink.start()
    sink.offer(many(1)[0])
    async with asyncio.timeout(5):
        await store.entered.wait()  # written without close and without a full batch
    await sink.close()
    assert sink.written == 1


async def test_a_failing_store_drops_the_batch_and_the_writer_goes_on(
    caplog: pytest.LogCaptureFixture,
):
    store = GatedStore(fail=True)
    store.gate.set()
    sink = AuditSink(store, batch_size=2, flush_interval_s=3600)
    await sink.start()
    sink.offer(many(1)[0])
    sink.offer(many(1, start=1)[0])
    async with asyncio.timeout(5):
        await store.entered.wait()
    store.entered.clear()
    store.fail = False
    for r in many(2, start=2):
        sink.offer(r)
    async with asyncio.timeout(5):
        await store.entered.wait()  # the writer lived on and took the next batch
    await sink.close()
    assert sink.dropped == 2 and sink.written == 2
    assert [r.request_id for r in store.batches[0]] == ["r00002", "r00003"]
    assert "the audit store failed" in caplog.text


async def test_close_without_start_still_flushes():
    store = GatedStore()
    store.gate.set()
    sink = AuditSink(store)
    sink.offer(many(1)[0])
    await sink.close()
    assert sink.written == 1


@pytest.mark.parametrize(
    "settings",
    [{"capacity": 0}, {"batch_size": 0}, {"flush_interval_s": 0}],
)
def test_bad_settings_are_refused(settings: dict[str, float]):
    with pytest.raises(ConfigError):
        AuditSink(GatedStore(), **settings)  # type: ignore[arg-type]
