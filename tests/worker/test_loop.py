"""The worker loop's read wrapper: a batch holding a streamed item closes at once."""

from __future__ import annotations

from scaleserve.types import WorkItem
from scaleserve.worker.loop import StreamAwareRead


def item(item_id: int, stream: bool = False) -> WorkItem:
    return WorkItem(item_id, b"0", 2.0, 1.0, stream=stream)


class Script:
    def __init__(self, *answers: list[WorkItem]) -> None:
        self.answers = list(answers)
        self.reads: list[float | None] = []

    async def __call__(self, max_items: int, timeout_s: float | None) -> list[WorkItem]:
        self.reads.append(timeout_s)
        return self.answers.pop(0)


async def test_timed_reads_after_a_streamed_item_return_nothing() -> None:
    source = Script([item(1), item(2, stream=True)], [item(3)], [item(4)])
    read = StreamAwareRead(source)
    assert [i.id for i in await read(8, None)] == [1, 2]
    assert await read(6, 0.05) == []  # the batch closes: the source is not asked
    assert [i.id for i in await read(8, None)] == [3]  # the next batch starts afresh
    assert [i.id for i in await read(7, 0.05)] == [4]
    assert source.reads == [None, None, 0.05]


async def test_a_streamed_item_arriving_while_a_batch_fills_closes_it() -> None:
    source = Script([item(1)], [item(2, stream=True)], [item(3)])
    read = StreamAwareRead(source)
    await read(8, None)
    assert [i.id for i in await read(7, 0.05)] == [2]
    assert await read(6, 0.05) == []
