"""Stopping background tasks, even those that lose a cancellation.

On Python 3.11 ``asyncio.wait_for`` swallows a cancellation that arrives in the turn its
awaited operation finishes (redis-py wraps its socket writes in it), so a loop told once to
stop may go round again and again. ``stop_tasks`` cancels again until every task has ended,
so a ``close()`` never waits forever on a loop that did not hear it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

_RECANCEL_EVERY_S = 0.5


async def stop_tasks(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel ``tasks`` and wait until all have ended, however they end (``None`` skipped)."""
    pending = {task for task in tasks if task is not None}
    running = {task for task in pending if not task.done()}
    while running:
        for task in running:
            task.cancel()
        _, running = await asyncio.wait(running, timeout=_RECANCEL_EVERY_S)
    await asyncio.gather(*pending, return_exceptions=True)


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """``stop_tasks`` for one task."""
    await stop_tasks((task,))


def reraise_if_cancelled(exc: BaseException) -> None:
    """Inside a retry loop: a cancellation that a timeout turned into ``TimeoutError`` (an
    ``OSError``) must still cancel, not be retried."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc
