"""Listing and keeping ended jobs: the PostgreSQL job history (real PostgreSQL) and the
SQLite job store's list, through one parametrized fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import orjson
import psycopg
import pytest
from psycopg import sql

from scaleserve.errors import ConfigError, HistoryUnavailable
from scaleserve.jobs.backends import postgres_history
from scaleserve.jobs.backends.postgres_history import PostgresJobHistory
from scaleserve.jobs.backends.sqlite import SqliteJobStore
from scaleserve.jobs.history import JobLister, JobQuery
from scaleserve.jobs.history_retention import HistoryRetention
from scaleserve.jobs.record import Job, JobStatus, new_job_id

T0 = 1_700_000_000.123456789  # more digits than a timestamptz keeps: times come back exact


def ended(
    tenant: str = "acme",
    created_at: float = T0,
    status: JobStatus = JobStatus.SUCCEEDED,
    model: str = "tens",
) -> Job:
    failed = status is not JobStatus.SUCCEEDED
    return Job(
        id=new_job_id(),
        tenant=tenant,
        model=model,
        status=status,
        inputs=b'[{"x": 1}, {"x": "\\u00e9\\n"}]',
        created_at=created_at,
        deadline_at=created_at + 3600.25,
        attempts=2,
        started_at=created_at + 0.5,
        finished_at=created_at + 1.75,
        # as the client saw them: spacing and number spelling kept, byte for byte
        outputs=None if failed else b'[{"y": 1.50} ,{"y":"\\u00e9"}]',
        error_code="model_error" if failed else None,
        error="boom\x00\n" if failed else None,
        webhook_url="https://hooks.example/done",
        expires_at=created_at + 86401.75,
        trace="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    )


@dataclass
class Backend:
    lister: JobLister
    keep: Callable[[Sequence[Job]], Awaitable[None]]


@pytest.fixture
async def history(pg_url: str, pg_schema: str) -> AsyncIterator[PostgresJobHistory]:
    kept = PostgresJobHistory(pg_url, pg_schema)
    await kept.open()
    yield kept
    await kept.close()


@pytest.fixture(params=["postgres", "sqlite"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "postgres":
        kept = PostgresJobHistory(
            request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema")
        )
        await kept.open()
        yield Backend(kept, kept.record)
        await kept.close()
        return
    store = SqliteJobStore(":memory:")
    await store.open()
    yield Backend(store, store.create)
    await store.close()


async def pages(lister: JobLister, tenant: str, query: JobQuery) -> list[list[Job]]:
    """Every page of ``query``, walked as a client walks them."""
    found: list[list[Job]] = []
    while True:
        page = await lister.list_jobs(tenant, query)
        if not page:
            return found
        found.append(page)
        query = JobQuery(query.status, query.since, query.limit, (page[-1].created_at, page[-1].id))


async def test_a_recorded_job_comes_back_exactly(history: PostgresJobHistory) -> None:
    jobs = [ended(), ended(status=JobStatus.FAILED)]
    await history.record(jobs)
    assert await history.get(jobs[0].id, "acme") == jobs[0]
    assert await history.get(jobs[1].id, "acme") == jobs[1]
    found = await history.get(jobs[0].id, "acme")
    assert found is not None and orjson.dumps(found.view()) == orjson.dumps(jobs[0].view())


async def test_recording_again_changes_nothing(history: PostgresJobHistory) -> None:
    job = ended()
    await history.record([job])
    await history.record([job, job.with_changes(status=JobStatus.FAILED, outputs=None)])
    assert await history.get(job.id, "acme") == job
    assert await history.list_jobs("acme", JobQuery()) == [job]


async def test_a_job_postgresql_refuses_is_left_out_and_the_others_kept(
    history: PostgresJobHistory, caplog: pytest.LogCaptureFixture
) -> None:
    good, refused = ended(), ended().with_changes(trace="nul\x00")  # no text column takes NUL
    await history.record([good, refused])
    assert await history.get_many([good.id, refused.id], "acme") == [good, None]
    assert refused.id in caplog.text


async def test_retention_deletes_the_jobs_created_before_it_in_batches(
    history: PostgresJobHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_history, "DROP_BATCH", 3)  # several statements
    day = 86400.0
    old = [ended(created_at=T0 - 100 * day + n) for n in range(7)]
    recent = [ended(created_at=T0 - 10 * day), ended(created_at=T0)]
    await history.record([*old, *recent])
    retention = HistoryRetention(history, retention_days=90)
    assert await retention.sweep(now=T0) == 7
    assert await retention.sweep(now=T0) == 0
    kept = await history.get_many([job.id for job in [*old, *recent]], "acme")
    assert kept == [None] * 7 + recent


async def test_another_tenants_job_is_not_found(history: PostgresJobHistory) -> None:
    mine, theirs = ended("acme"), ended("globex")
    await history.record([mine, theirs])
    assert await history.get(theirs.id, "acme") is None
    assert await history.get_many([mine.id, theirs.id, new_job_id()], "acme") == [mine, None, None]
    assert await history.list_jobs("acme", JobQuery()) == [mine]


async def test_a_list_is_the_tenants_jobs_newest_first(backend: Backend) -> None:
    jobs = [ended(created_at=T0 + n) for n in range(5)]
    await backend.keep([*jobs, ended("globex", created_at=T0 + 10)])
    assert await backend.lister.list_jobs("acme", JobQuery()) == jobs[::-1]
    assert await backend.lister.list_jobs("acme", JobQuery(limit=2)) == jobs[:2:-1]
    assert await backend.lister.list_jobs("nobody", JobQuery()) == []


async def test_status_and_since_filter_the_list(backend: Backend) -> None:
    jobs = [
        ended(created_at=T0 + n, status=JobStatus.FAILED if n % 2 else JobStatus.SUCCEEDED)
        for n in range(6)
    ]
    await backend.keep(jobs)
    failed = await backend.lister.list_jobs("acme", JobQuery(status=JobStatus.FAILED))
    assert failed == [jobs[5], jobs[3], jobs[1]]
    recent = await backend.lister.list_jobs("acme", JobQuery(since=T0 + 3))  # inclusive
    assert recent == [jobs[5], jobs[4], jobs[3]]
    both = JobQuery(status=JobStatus.SUCCEEDED, since=T0 + 1)
    assert await backend.lister.list_jobs("acme", both) == [jobs[4], jobs[2]]
    assert await backend.lister.list_jobs("acme", JobQuery(status=JobStatus.EXPIRED)) == []


async def test_pages_neither_repeat_nor_skip_a_job(backend: Backend) -> None:
    # jobs created at the same instant are ordered by id: a page may end between them
    jobs = [ended(created_at=T0 + n // 3) for n in range(23)]
    await backend.keep(jobs)
    walked = await pages(backend.lister, "acme", JobQuery(limit=4))
    assert [len(page) for page in walked] == [4, 4, 4, 4, 4, 3]
    listed = [job for page in walked for job in page]
    assert listed == sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)


async def test_pages_after_a_cursor_miss_nothing_added_meanwhile(backend: Backend) -> None:
    older = [ended(created_at=T0 + n) for n in range(4)]
    await backend.keep(older)
    first = await backend.lister.list_jobs("acme", JobQuery(limit=2))
    newer = ended(created_at=T0 + 100)
    await backend.keep([newer])  # lands before the first page: the walk goes on unchanged
    after = (first[-1].created_at, first[-1].id)
    rest = await backend.lister.list_jobs("acme", JobQuery(limit=10, after=after))
    assert first + rest == older[::-1]


async def test_a_history_that_cannot_be_reached_refuses_to_open() -> None:
    closed = PostgresJobHistory("postgresql://scaleserve:s3cret@127.0.0.1:1/none")
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:1/none") as raised:
        await closed.open()
    assert "s3cret" not in str(raised.value)
    with pytest.raises(ConfigError, match="schema name"):
        PostgresJobHistory("postgresql://127.0.0.1/test", "Robert'); DROP")


async def test_a_failing_database_is_history_unavailable(
    history: PostgresJobHistory, pg_url: str, pg_schema: str
) -> None:
    drop = sql.SQL("DROP TABLE {}.job_history").format(sql.Identifier(pg_schema))
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(drop)
    with pytest.raises(HistoryUnavailable):
        await history.record([ended()])
    with pytest.raises(HistoryUnavailable):
        await history.get(new_job_id(), "acme")
    await history.open()  # made again, as a gateway's start would
    job = ended()
    await history.record([job])
    assert await history.get(job.id, "acme") == job
