"""Waking, in this process, whoever waits on a job when it changes.

A job store tells ``JobWatchers`` each job that changed (the embedded store as it commits a
change, the Redis store as it reads the changes feed that the job scripts write). Waiters
register before they read the job, so a change between the read and the wait is not
missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator

from scaleserve.jobs.record import Job


class JobWatchers:
    """One wake-up event per job that someone is waiting on, dropped with its last waiter."""

    def __init__(self) -> None:
        self._events: dict[str, tuple[asyncio.Event, int]] = {}

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set at the next change of ``job_id`` after this call."""
        event, count = self._events.get(job_id, (asyncio.Event(), 0))
        self._events[job_id] = (event, count + 1)
        try:
            yield event
        finally:
            event, count = self._events[job_id]
            if count == 1:
                del self._events[job_id]
            else:
                self._events[job_id] = (event, count - 1)

    def notify(self, job_id: str) -> None:
        entry = self._events.pop(job_id, None)
        if entry is None:
            return
        entry[0].set()
        # waiters still registered get a fresh event for the next change
        self._events[job_id] = (asyncio.Event(), entry[1])

    def notify_many(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            self.notify(job_id)

    def notify_all(self) -> None:
        """Wake every waiter, to look again (changes may have been missed)."""
        self.notify_many(list(self._events))

    def watched(self) -> bool:
        return bool(self._events)


async def until_changed(
    watchers: JobWatchers,
    job_id: str,
    changed_yet: Callable[[], Awaitable[bool]],
    timeout_s: float,
) -> None:
    """Return once ``changed_yet()`` holds, or after ``timeout_s``."""
    with watchers.watch(job_id) as changed:
        if await changed_yet():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await changed.wait()


async def until_ended(
    watchers: JobWatchers,
    job_id: str,
    read: Callable[[], Awaitable[Job | None]],
    timeout_s: float,
    first_state: Awaitable[Job] | None = None,
) -> Job | None:
    """``read()`` once the job has ended, or as it is when ``timeout_s`` has passed (``None``
    when it does not exist). ``first_state``, when given, is awaited in place of the first
    read, once the watch is set: a submission, so that a job ending at once is not missed."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + timeout_s
    while True:
        with watchers.watch(job_id) as changed:
            job = await (first_state or read())
            first_state = None
            remaining_s = give_up_at - loop.time()
            if job is None or job.status.terminal or remaining_s <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining_s):
                    await changed.wait()
