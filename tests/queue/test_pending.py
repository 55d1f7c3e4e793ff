from __future__ import annotations

import asyncio

import pytest

from scaleserve.errors import DeadlineExceeded, InvalidInput, ModelFailed, WorkerLost
from scaleserve.queue.pending import PendingTable
from scaleserve.types import FailureKind, ItemResult


async def test_outputs_come_back_in_request_order_whatever_the_result_order() -> None:
    table = PendingTable()
    request = table.open("m", 3)
    a, b, c = request.item_ids
    for item_id, output in [(c, b"3"), (a, b"1"), (b, b"2")]:
        table.resolve(ItemResult(item_id, output=output))
    assert await request.wait(5) == [b"1", b"2", b"3"]
    assert len(table) == 0


async def test_deadline_fails_the_request_and_forgets_its_items() -> None:
    table = PendingTable()
    request = table.open("m", 2)
    with pytest.raises(DeadlineExceeded):
        await request.wait(0.01)
    assert len(table) == 0
    table.resolve(ItemResult(request.item_ids[0], output=b"late"))  # ignored, no error


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (FailureKind.MODEL, ModelFailed),
        (FailureKind.INPUT, InvalidInput),
        (FailureKind.EXPIRED, DeadlineExceeded),
    ],
)
async def test_item_failures_become_typed_errors(
    failure: FailureKind, error: type[Exception]
) -> None:
    table = PendingTable()
    request = table.open("m", 2)
    table.resolve(ItemResult(request.item_ids[1], failure=failure, error="boom"))
    with pytest.raises(error):
        await request.wait(5)


async def test_fail_by_item_ids() -> None:
    table = PendingTable()
    request = table.open("m", 1)
    table.fail(request.item_ids, WorkerLost("m"))
    with pytest.raises(WorkerLost):
        await request.wait(5)


async def test_cancelled_wait_forgets_the_request() -> None:
    table = PendingTable()
    request = table.open("m", 1)
    task = asyncio.create_task(request.wait(5))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(table) == 0


async def test_stream_chunks_come_in_order_then_the_end() -> None:
    table = PendingTable()
    stream = table.open_stream("m", timeout_s=5)
    table.push_chunk(stream.item_id, b"1")
    table.push_chunk(stream.item_id, b"2")
    table.resolve(ItemResult(stream.item_id))
    assert [await stream.next(), await stream.next(), await stream.next()] == [b"1", b"2", None]
    assert stream.answered
    assert await stream.next() is None  # the end stays the end
    stream.close()
    assert len(table) == 0


async def test_stream_failure_comes_after_the_chunks_before_it() -> None:
    table = PendingTable()
    stream = table.open_stream("m", timeout_s=5)
    table.push_chunk(stream.item_id, b"1")
    table.resolve(ItemResult(stream.item_id, failure=FailureKind.MODEL, error="boom"))
    assert await stream.next() == b"1"
    with pytest.raises(ModelFailed, match="boom"):
        await stream.next()


async def test_stream_deadline_ends_it_unanswered() -> None:
    table = PendingTable()
    stream = table.open_stream("m", timeout_s=0.01)
    with pytest.raises(DeadlineExceeded):
        await stream.next()
    assert not stream.answered  # the worker still runs it: the broker must cancel it


async def test_stream_fails_with_its_worker_and_ignores_forgotten_ids() -> None:
    table = PendingTable()
    stream = table.open_stream("m", timeout_s=5)
    table.fail([stream.item_id], WorkerLost("m"))
    with pytest.raises(WorkerLost):
        await stream.next()
    stream.close()
    assert len(table) == 0
    table.push_chunk(stream.item_id, b"late")  # ignored, no error
    table.resolve(ItemResult(stream.item_id))
