"""The SQLite job store: conditional transitions, events, retention."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scaleserve.errors import JobsExist
from scaleserve.jobs.backends.sqlite import SqliteJobStore
from scaleserve.jobs.record import Job, JobStatus, new_job_id


@pytest.fixture(params=["file", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    job_store = SqliteJobStore(tmp_path / "jobs.db" if request.param == "file" else ":memory:")
    await job_store.open()
    yield job_store
    await job_store.close()


def queued_job(tenant: str = "t1", created_at: float = 100.0) -> Job:
    return Job(
        id=new_job_id(),
        tenant=tenant,
        model="m",
        status=JobStatus.QUEUED,
        inputs=b'["a","b"]',
        created_at=created_at,
        deadline_at=created_at + 60,
    )


async def test_create_then_get_only_for_its_tenant(store: SqliteJobStore) -> None:
    job = queued_job()
    await store.create([job])
    assert await store.get(job.id, "t1") == job
    assert await store.get(job.id, "t2") is None


async def test_claim_takes_a_queued_job_once(store: SqliteJobStore) -> None:
    job = queued_job()
    await store.create([job])
    claimed = await store.claim(job.id, 101.0)
    assert claimed is not None
    assert (
        claimed.status is JobStatus.RUNNING
        and claimed.attempts == 1
        and claimed.started_at == 101.0
    )
    assert await store.claim(job.id, 102.0) is None


async def test_first_finish_wins(store: SqliteJobStore) -> None:
    job = queued_job()
    await store.create([job])
    await store.claim(job.id, 101.0)
    first = await store.finish(
        job.id, JobStatus.SUCCEEDED, 102.0, outputs=b"[1,2]", expires_at=200.0
    )
    late = await store.finish(
        job.id, JobStatus.SUCCEEDED, 103.0, outputs=b"[9,9]", expires_at=200.0
    )
    assert first is not None and late is None
    stored = await store.get(job.id, "t1")
    assert stored is not None and stored.outputs == b"[1,2]" and stored.finished_at == 102.0


async def test_cancel_only_while_queued(store: SqliteJobStore) -> None:
    queued, running = queued_job(), queued_job()
    await store.create([queued])
    await store.create([running])
    await store.claim(running.id, 101.0)
    cancelled = await store.cancel(queued.id, "t1", 102.0, 200.0)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    assert await store.cancel(running.id, "t1", 102.0, 200.0) is None
    assert await store.cancel(queued_job().id, "t1", 102.0, 200.0) is None
    assert await store.claim(queued.id, 103.0) is None  # a cancelled job never runs


async def test_release_requeues_and_unfinished_lists_oldest_first(store: SqliteJobStore) -> None:
    old, new, done = (
        queued_job(created_at=1.0),
        queued_job(created_at=2.0),
        queued_job(created_at=0.5),
    )
    for job in (new, old, done):
        await store.create([job])
    await store.claim(old.id, 3.0)
    await store.claim(done.id, 3.0)
    await store.finish(done.id, JobStatus.FAILED, 4.0, error_code="x", error="y", expires_at=9.0)
    assert [j.id for j in await store.unfinished()] == [old.id, new.id]
    assert await store.release(old.id)
    assert not await store.release(new.id)  # it was not running
    released = await store.get(old.id, "t1")
    assert released is not None and released.status is JobStatus.QUEUED and released.attempts == 1


async def test_every_change_is_an_event_in_order(store: SqliteJobStore) -> None:
    job = queued_job()
    await store.create([job])
    await store.claim(job.id, 101.0)
    await store.finish(job.id, JobStatus.SUCCEEDED, 102.0, outputs=b"[1]", expires_at=200.0)
    events = await store.events_after(job.id, 0)
    assert [(e.seq, e.status) for e in events] == [
        (1, JobStatus.QUEUED),
        (2, JobStatus.RUNNING),
        (3, JobStatus.SUCCEEDED),
    ]
    assert b'"outputs":[1]' in events[-1].data
    assert [e.seq for e in await store.events_after(job.id, 2)] == [3]


async def test_waiters_wake_on_the_next_event(store: SqliteJobStore) -> None:
    job = queued_job()
    await store.create([job])
    waiters = [asyncio.create_task(store.wait_for_event(job.id, 1, timeout_s=30)) for _ in range(3)]
    await asyncio.sleep(0)
    await store.claim(job.id, 101.0)
    async with asyncio.timeout(10):
        await asyncio.gather(*waiters)


async def test_wait_returns_at_once_when_an_event_is_already_there(store: SqliteJobStore) -> None:
    job = queued_job()
    await store.create([job])
    async with asyncio.timeout(10):
        await store.wait_for_event(job.id, 0, timeout_s=30)


async def test_expired_jobs_and_their_events_are_removed(store: SqliteJobStore) -> None:
    job, kept = queued_job(), queued_job()
    await store.create([job])
    await store.create([kept])
    await store.cancel(job.id, "t1", 101.0, expires_at=150.0)
    assert await store.delete_expired(149.0) == 0
    assert await store.delete_expired(150.0) == 1
    assert await store.get(job.id, "t1") is None
    assert await store.events_after(job.id, 0) == []
    assert await store.get(kept.id, "t1") is not None


async def test_jobs_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    first = SqliteJobStore(path)
    await first.open()
    job = queued_job()
    await first.create([job])
    await first.close()
    second = SqliteJobStore(path)
    await second.open()
    assert [j.id for j in await second.unfinished()] == [job.id]
    await second.close()


async def test_jobs_created_together_are_all_recorded_or_none(store: SqliteJobStore) -> None:
    jobs = [queued_job(created_at=100.0 + n) for n in range(3)]
    await store.create(jobs)
    assert await store.get_many([j.id for j in jobs], "t1") == jobs
    assert [[e.seq for e in await store.events_after(j.id, 0)] for j in jobs] == [[1]] * 3
    clash = [queued_job(), jobs[1]]  # a second job with an id already taken
    with pytest.raises(JobsExist):
        await store.create(clash)
    assert await store.get(clash[0].id, "t1") is None


async def test_get_many_answers_only_the_tenants_jobs_in_order(store: SqliteJobStore) -> None:
    mine, theirs = queued_job(), queued_job(tenant="t2")
    await store.create([mine, theirs])
    many = [queued_job() for _ in range(600)]  # more than one query's worth of ids
    await store.create(many)
    asked = [theirs.id, "0" * 32, mine.id, *(j.id for j in many)]
    assert await store.get_many(asked, "t1") == [None, None, mine, *many]
    assert await store.get_many([], "t1") == []


async def test_a_job_keeps_its_trace(store: SqliteJobStore) -> None:
    job = queued_job().with_changes(trace=f"00-{'a' * 32}-{'b' * 16}-01")
    await store.create([job])
    assert await store.get(job.id, "t1") == job


async def test_a_store_from_before_traces_gets_the_column(tmp_path: Path) -> None:
    import sqlite3

    from scaleserve.jobs.backends.sqlite import SCHEMA

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA.replace(",\n    trace TEXT", ""))
        assert "trace" not in {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    old = SqliteJobStore(path)
    await old.open()
    try:
        job = queued_job()
        await old.create([job])
        assert await old.get(job.id, "t1") == job
    finally:
        await old.close()
