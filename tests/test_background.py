"""Stopping background tasks, even one that loses a cancellation (Python 3.11's wait_for)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from scaleserve.background import reraise_if_cancelled, stop_task, stop_tasks


async def _quick_op() -> None:
    """An operation that finishes in the turn a cancellation arrives (no await: done in its
    first step), as redis-py's socket write under ``asyncio.wait_for`` often is."""


class _Loop:
    """A background loop whose first round goes through ``wait_for`` as redis-py's calls do;
    later rounds sleep, so only the first cancellation can be lost."""

    def __init__(self) -> None:
        self.rounds = 0
        self.lost_cancellations = 0

    async def run(self) -> None:
        while True:
            self.rounds += 1
            if self.rounds > 1:
                await asyncio.sleep(0.01)
                continue
            await asyncio.wait_for(_quick_op(), timeout=5)
            task = asyncio.current_task()
            assert task is not None
            if task.cancelling():  # told to stop, yet wait_for returned normally
                self.lost_cancellations += 1
                task.uncancel()  # as wait_for's swallowing leaves a task: still running


async def test_a_lost_cancellation_is_sent_again_until_the_task_ends() -> None:
    loop = _Loop()
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0)  # the task is inside wait_for, its operation about to finish
    await asyncio.wait_for(stop_task(task), timeout=10)
    assert task.done()
    if sys.version_info < (3, 12):
        assert loop.lost_cancellations == 1  # the hazard is real here, and was overcome
    else:
        assert loop.lost_cancellations == 0  # fixed in 3.12's wait_for


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12's wait_for keeps cancellations")
async def test_a_single_cancel_leaves_a_task_that_swallowed_it_running() -> None:
    """The hazard ``stop_tasks`` exists for: cancelled once, the loop goes on."""
    loop = _Loop()
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.2)
    assert not done and loop.lost_cancellations == 1
    await stop_task(task)
    assert task.done()


async def test_ended_failed_and_absent_tasks_are_taken_quietly() -> None:
    async def fail() -> None:
        raise RuntimeError("boom")

    ended = asyncio.create_task(asyncio.sleep(0))
    failed = asyncio.create_task(fail())
    sleeping = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0.01)
    await stop_tasks([ended, failed, None, sleeping])
    assert ended.done() and failed.done() and sleeping.cancelled()


async def test_a_retry_loop_rethrows_a_cancellation_turned_into_an_error() -> None:
    rounds = 0

    async def retry_forever() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError as exc:
                # what redis-py does inside its pool: the cancellation becomes its own error
                error = TimeoutError("timed out")
                try:
                    raise error from exc
                except TimeoutError as turned:
                    reraise_if_cancelled(turned)
                    continue  # pragma: no cover - the retry that must not happen

    task = asyncio.create_task(retry_forever())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and rounds == 1
