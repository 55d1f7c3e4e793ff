"""The dashboard: its computations over hand-written metrics text, the shared sampler, and
its routes on a real service's admin listener."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleserve.observe.dashboard import DashboardFeed, Sampler, rollout_rows, usage_by_tenant
from scaleserve.observe.dashboard.compute import SAMPLES, quantile, summarize
from scaleserve.observe.dashboard.routes import as_bearer
from scaleserve.observe.dashboard.scrape import Scrape, parse
from scaleserve.observe.dashboard.sse import EventStream
from scaleserve.registry.records import ModelState, Rollout, RolloutPolicy, RolloutStep, Swap
from scaleserve.testing import Service, running_service

PROBE = Path(__file__).parents[1] / "fixtures" / "app.py"

# ---- the computations, over hand-written exposition text ---------------------------------


def requests(model: str, counts: Mapping[str, float], version: str = "1", tenant: str = "t") -> str:
    return "\n".join(
        f'scaleserve_requests_total{{model="{model}",version="{version}",tenant="{tenant}",'
        f'code="{code}"}} {value}'
        for code, value in counts.items()
    )


def latency(model: str, buckets: Mapping[str, float], code: str = "200") -> str:
    """Cumulative buckets of scaleserve_request_duration_seconds, ``+Inf`` last."""
    labels = f'model="{model}",version="1",tenant="t",code="{code}"'
    lines = [
        f'scaleserve_request_duration_seconds_bucket{{{labels},le="{le}"}} {count}'
        for le, count in buckets.items()
    ]
    lines.append(f"scaleserve_request_duration_seconds_count{{{labels}}} {buckets['+Inf']}")
    return "\n".join(lines)


def exposition(*parts: str) -> str:
    """Metrics text with the TYPE lines the client library writes."""
    head = [
        "# TYPE scaleserve_requests_total counter",
        "# TYPE scaleserve_request_duration_seconds histogram",
        "# TYPE scaleserve_batch_size histogram",
        "# TYPE scaleserve_cache_lookups_total counter",
        "# TYPE scaleserve_items_total counter",
    ]
    return "\n".join([*head, *parts]) + "\n"


def scrape(at_s: float, *parts: str) -> Scrape:
    return Scrape(at_s, parse(exposition(*parts)))


def row(summary: dict[str, Any], model: str, version: str = "1") -> dict[str, Any]:
    return next(r for r in summary["models"] if (r["model"], r["version"]) == (model, version))


def test_rates_come_from_counter_increases_over_the_interval() -> None:
    before = scrape(10.0, requests("echo", {"200": 10, "500": 1, "429": 2}))
    after = scrape(12.0, requests("echo", {"200": 30, "500": 5, "429": 6, "422": 2}))
    echo = row(summarize(before, after), "echo")
    assert echo["requests_per_s"] == (20 + 4 + 4 + 2) / 2
    assert echo["errors_per_s"] == 2.0  # 5xx only
    assert echo["rejected_per_s"] == 2.0  # 429
    tenants = summarize(before, after)["tenants"]
    assert tenants == [
        {"tenant": "t", "requests_per_s": 15.0, "rejected_per_s": 2.0, "errors_per_s": 2.0}
    ]


def test_latency_quantiles_interpolate_within_the_bucket_of_the_increases() -> None:
    old = {"0.1": 100, "0.25": 100, "0.5": 100, "+Inf": 100}
    new = {"0.1": 150, "0.25": 190, "0.5": 200, "+Inf": 200}  # 50, 40, 10 more in each
    refused = {"0.1": 0, "0.25": 0, "0.5": 0, "+Inf": 0}
    refused_now = {"0.1": 1000, "0.25": 1000, "0.5": 1000, "+Inf": 1000}
    before = scrape(0.0, latency("echo", old), latency("echo", refused, code="429"))
    after = scrape(1.0, latency("echo", new), latency("echo", refused_now, code="429"))
    echo = row(summarize(before, after), "echo")
    # rank 50 of 100 ends the first bucket; 95 and 99 fall in (0.25, 0.5] with 90 below it.
    # The 429s (answered at once) are no latency of the model's and are left out.
    assert echo["p50_s"] == pytest.approx(0.1)
    assert echo["p95_s"] == pytest.approx(0.25 + 0.25 * (95 - 90) / 10)
    assert echo["p99_s"] == pytest.approx(0.25 + 0.25 * (99 - 90) / 10)


def test_quantile_matches_prometheus_histogram_quantile() -> None:
    buckets = {0.05: 20.0, 0.1: 60.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.05 + 0.05 * (50 - 20) / 40)
    assert quantile(0.1, buckets) == pytest.approx(0.05 * 10 / 20)  # first bucket from 0
    # observations past the largest bound: the largest finite bound is all that is known
    assert quantile(0.99, {0.1: 1.0, 1.0: 1.0, math.inf: 10.0}) == 1.0
    assert quantile(0.5, {0.1: 0.0, math.inf: 0.0}) is None
    assert quantile(0.5, {0.1: 3.0}) is None  # no +Inf bucket: not a histogram


def test_cache_hit_rate_counts_items_once_across_tiers() -> None:
    def lookups(memory_hit: int, memory_miss: int, redis_hit: int, redis_miss: int) -> str:
        values = {("memory", "hit"): memory_hit, ("memory", "miss"): memory_miss,
                  ("redis", "hit"): redis_hit, ("redis", "miss"): redis_miss}  # fmt: skip
        return "\n".join(
            f'scaleserve_cache_lookups_total{{model="echo",tier="{t}",result="{r}"}} {n}'
            for (t, r), n in values.items()
        )

    before = scrape(0.0, lookups(0, 0, 0, 0), requests("echo", {"200": 0}))
    # 100 items looked up: 30 hit memory; of its 70 misses, redis answered 20
    after = scrape(1.0, lookups(30, 70, 20, 50), requests("echo", {"200": 100}))
    assert row(summarize(before, after), "echo")["cache_hit_rate"] == 0.5


def test_batch_size_is_the_mean_over_the_interval() -> None:
    def batches(count: int, items: int) -> str:
        labels = 'model="echo",version="1"'
        return (
            f"scaleserve_batch_size_count{{{labels}}} {count}\n"
            f"scaleserve_batch_size_sum{{{labels}}} {items}\n"
            f'scaleserve_batch_size_bucket{{{labels},le="+Inf"}} {count}'
        )

    echo = row(summarize(scrape(0.0, batches(10, 10)), scrape(1.0, batches(14, 42))), "echo")
    assert echo["batch_size_avg"] == 8.0


def test_zero_traffic_shows_zeros_and_the_gauges() -> None:
    text = (
        requests("echo", {"200": 7})
        + '\nscaleserve_queue_depth{model="echo",version="1"} 3'
        + '\nscaleserve_workers_ready{model="echo",version="1"} 2'
        + '\nscaleserve_workers_desired{model="echo",version="1"} 4'
    )
    echo = row(summarize(scrape(0.0, text), scrape(1.0, text)), "echo")
    assert echo["requests_per_s"] == echo["errors_per_s"] == echo["rejected_per_s"] == 0.0
    assert echo["p50_s"] is echo["batch_size_avg"] is echo["cache_hit_rate"] is None
    assert echo["backlog"] == 3.0
    assert echo["workers"] == {"ready": 2.0, "desired": 4.0, "current": None}
    assert echo["in_flight"] is None  # a metric that is not exported shows nothing


def test_an_empty_service_lists_its_models_with_zeros() -> None:
    text = 'scaleserve_queue_depth{model="echo"} 0\nscaleserve_workers_ready{model="echo"} 1'
    summary = summarize(scrape(0.0, text), scrape(1.0, text))
    assert summary["models"][0]["model"] == "echo"
    assert summary["models"][0]["requests_per_s"] == 0.0
    assert summary["tenants"] == []
    assert summary["drift"] == []


def test_the_first_scrape_has_no_rates() -> None:
    echo = row(summarize(None, scrape(5.0, requests("echo", {"200": 9}))), "echo")
    assert echo["requests_per_s"] is None
    assert echo["p99_s"] is None


def test_a_counter_that_restarted_counts_from_zero() -> None:
    """A process restarted: its counters start again below what was read before."""
    before = scrape(
        0.0, requests("echo", {"200": 1000}), latency("echo", {"0.1": 500, "+Inf": 1000})
    )
    after = scrape(1.0, requests("echo", {"200": 6}), latency("echo", {"0.1": 6, "+Inf": 6}))
    echo = row(summarize(before, after), "echo")
    assert echo["requests_per_s"] == 6.0
    assert echo["p50_s"] == pytest.approx(0.05)


def test_a_series_new_since_the_last_scrape_counts_from_zero() -> None:
    before = scrape(0.0, requests("echo", {"200": 5}))
    after = scrape(1.0, requests("echo", {"200": 5, "503": 3}))
    assert row(summarize(before, after), "echo")["errors_per_s"] == 3.0


def test_series_without_version_or_tenant_still_count() -> None:
    """The labels scaleserve exported before versions and tenants were added."""
    old = 'scaleserve_requests_total{model="echo",code="200"} 1\n'
    new = 'scaleserve_requests_total{model="echo",code="200"} 4\n'
    summary = summarize(scrape(0.0, old), scrape(1.0, new))
    assert row(summary, "echo", "")["requests_per_s"] == 3.0
    assert summary["tenants"] == []  # no tenant label: no tenant to name


def test_version_less_series_fold_into_the_models_only_version() -> None:
    gauges = "\n".join(
        [
            'scaleserve_in_flight_requests{model="echo"} 2',
            'scaleserve_in_flight_requests{model="two"} 1',
        ]
    )
    one = requests("echo", {"200": 1}) + "\n" + requests("two", {"200": 1}, version="a")
    two = requests("two", {"200": 1}, version="b")
    summary = summarize(scrape(0.0, one, two, gauges), scrape(1.0, one, two, gauges))
    keys = [(r["model"], r["version"]) for r in summary["models"]]
    assert keys == [("echo", "1"), ("two", ""), ("two", "a"), ("two", "b")]
    assert row(summary, "echo")["in_flight"] == 2.0
    assert row(summary, "two", "")["in_flight"] == 1.0  # several versions: the model's own row


def test_drift_rows_pair_each_score_with_its_threshold() -> None:
    text = "\n".join(
        [
            'scaleserve_drift_score{model="echo",version="1",feature="age",statistic="psi"} 0.4',
            'scaleserve_drift_score{model="echo",version="1",feature="len",statistic="psi"} 0.01',
            'scaleserve_drift_threshold{model="echo",version="1",statistic="psi"} 0.2',
        ]
    )
    drift = summarize(None, scrape(0.0, text))["drift"]
    assert [(d["feature"], d["value"], d["threshold"], d["drifted"]) for d in drift] == [
        ("age", 0.4, 0.2, True),
        ("len", 0.01, 0.2, False),
    ]
    # where the monitor says whether its alert fires (it holds until the score falls back)
    firing = 'scaleserve_drift_firing{model="echo",version="1",feature="len",statistic="psi"} 1'
    drift = summarize(None, scrape(0.0, text, firing))["drift"]
    assert [(d["feature"], d["drifted"]) for d in drift] == [("age", True), ("len", True)]


def test_reading_only_the_samples_used_reads_them_the_same() -> None:
    text = exposition(
        requests("echo", {"200": 3, "500": 1}),
        latency("echo", {"0.1": 2, "+Inf": 4}),
        'scaleserve_inference_duration_seconds_bucket{model="echo",le="+Inf"} 4',
        'scaleserve_queue_depth{model="echo",version="1"} 2',
    )
    everything, used = parse(text), parse(text, SAMPLES)
    assert "scaleserve_inference_duration_seconds_bucket" not in used
    assert used == {name: series for name, series in everything.items() if name in SAMPLES}
    assert len(used["scaleserve_request_duration_seconds_bucket"]) == 2


def test_text_that_does_not_parse_shows_nothing() -> None:
    assert parse("scaleserve_requests_total{model=oops 1 2 3\n") == {}
    assert summarize(None, Scrape(0.0, {}))["models"] == []


# ---- the feed and the sampler ------------------------------------------------------------


class Metrics:
    """Metrics text to hand out, one after another (the last one again and again)."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.reads = 0

    def __call__(self) -> bytes:
        self.reads += 1
        text = self.texts.pop(0) if len(self.texts) > 1 else self.texts[0]
        return exposition(text).encode()


async def no_extras() -> dict[str, Any]:
    return {}


async def test_the_feed_merges_extras_over_what_it_measured() -> None:
    now = [100.0]

    async def extras() -> dict[str, Any]:
        return {"rollouts": [{"model": "echo"}], "recent_errors": ["boom"]}

    texts = Metrics(requests("echo", {"200": 0}), requests("echo", {"200": 8}))
    feed = DashboardFeed(texts, extras, clock=lambda: now[0], wall_clock=lambda: 1_700_000_000.0)
    first = await feed.snapshot()
    now[0] += 2.0
    second = await feed.snapshot()
    assert first["models"][0]["requests_per_s"] is None
    assert second["models"][0]["requests_per_s"] == 4.0
    assert second["at"] == 1_700_000_000.0
    assert second["rollouts"] == [{"model": "echo"}]
    assert second["recent_errors"] == ["boom"]
    json.dumps(second)  # JSON-able as it is


async def test_the_feed_leaves_out_extras_that_fail(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> dict[str, Any]:
        raise OSError("usage store unreachable")

    snapshot = await DashboardFeed(Metrics(requests("echo", {"200": 1})), broken).snapshot()
    assert [r["model"] for r in snapshot["models"]] == ["echo"]
    assert "rollouts" not in snapshot
    assert "extras failed" in caplog.text


async def test_the_feed_gives_no_rates_across_a_long_gap() -> None:
    now = [0.0]
    texts = Metrics(requests("echo", {"200": 0}), requests("echo", {"200": 600}))
    feed = DashboardFeed(texts, no_extras, clock=lambda: now[0], max_gap_s=10)
    await feed.snapshot()
    now[0] += 600  # nobody watched for ten minutes: not a one-second rate
    assert (await feed.snapshot())["models"][0]["requests_per_s"] is None


async def take(updates: AsyncIterator[tuple[str, bytes]], n: int) -> list[dict[str, Any]]:
    """The next ``n`` snapshots, each with its update id as ``"id"``."""
    return [{**json.loads(data), "id": i} for i, data in [await anext(updates) for _ in range(n)]]


async def test_one_sampler_serves_every_watcher_and_stops_when_none_is_left() -> None:
    texts = Metrics(requests("echo", {"200": 1}))
    sampler = Sampler(DashboardFeed(texts, no_extras), interval_s=0.05, linger_s=0.1)
    first, second = sampler.updates(), sampler.updates()
    started = time.monotonic()
    mine, theirs = await asyncio.gather(take(first, 5), take(second, 5))
    elapsed_s = time.monotonic() - started
    assert [s["at"] for s in mine] == [s["at"] for s in theirs]  # the same snapshots
    assert texts.reads <= elapsed_s / 0.05 + 2  # one scrape a tick, not one per watcher
    await first.aclose()
    await second.aclose()
    assert sampler.watchers == 0
    await asyncio.sleep(0.3)  # a page resuming its stream would be back by now
    reads = texts.reads
    await asyncio.sleep(0.2)
    assert texts.reads == reads  # nobody watches: nothing is read
    await sampler.close()


async def test_a_late_watcher_gets_the_kept_snapshots_first() -> None:
    sampler = Sampler(DashboardFeed(Metrics(requests("echo", {"200": 1})), no_extras), 0.02, 5)
    early = sampler.updates()
    kept = await take(early, 8)
    late = sampler.updates()
    replayed = await take(late, 5)
    times = [s["at"] for s in replayed]
    assert times[0] < kept[-1]["at"]  # it began with the past, not with what came next
    assert times[0] > kept[0]["at"]  # as far back as five are kept
    assert times == sorted(set(times))
    await early.aclose()
    await late.aclose()
    await sampler.close()


async def test_a_watcher_that_comes_back_gets_what_it_missed() -> None:
    sampler = Sampler(DashboardFeed(Metrics(requests("echo", {"200": 1})), no_extras), 0.02)
    first = sampler.updates()
    seen = await take(first, 3)
    await first.aclose()
    more = sampler.updates()
    await take(more, 3)  # the sampler goes on meanwhile
    back = sampler.updates(last_id=seen[-1]["id"])
    resumed = await take(back, 3)
    assert [s["at"] for s in resumed] == [s["at"] for s in [*seen, *resumed]][3:6]
    assert resumed[0]["at"] > seen[-1]["at"]
    assert resumed[0]["id"].split("-")[1] == str(int(seen[-1]["id"].split("-")[1]) + 1)
    for foreign in ("0123abcd-2", "nonsense", seen[-1]["id"] + "99999"):
        again = sampler.updates(last_id=foreign)  # another sampler's id (a restart): all kept
        assert (await take(again, 1))[0]["at"] == seen[0]["at"]
        await again.aclose()
    for updates in (more, back):
        await updates.aclose()
    await sampler.close()


async def test_closing_the_sampler_ends_every_watchers_updates() -> None:
    sampler = Sampler(DashboardFeed(Metrics(requests("echo", {"200": 1})), no_extras), 0.02)
    updates = sampler.updates()
    await take(updates, 1)
    ended = asyncio.create_task(take(updates, 1000))
    await asyncio.sleep(0.05)
    await sampler.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(ended, 1)


async def test_an_event_stream_stops_when_the_client_goes_away() -> None:
    sampler = Sampler(DashboardFeed(Metrics(requests("echo", {"200": 1})), no_extras), 0.02)
    sent: list[bytes] = []
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message.get("body", b""))
        if sum(chunk.startswith(b"id: ") for chunk in sent) == 3:
            gone.set()

    await asyncio.wait_for(EventStream(sampler.updates())({"type": "http"}, receive, send), 2)
    assert sent[0] == b""  # the response start
    assert sent[1].startswith(b"retry: ")
    assert sent[2].startswith(b"id: ")
    assert b"\ndata: {" in sent[2]
    assert sent[-1] != b""  # the client left: no end of body is sent to no one
    assert sampler.watchers == 0
    await sampler.close()


async def test_an_event_stream_ends_after_its_lifetime() -> None:
    """So that an open page never holds a stopping server: the browser resumes it."""
    sampler = Sampler(DashboardFeed(Metrics(requests("echo", {"200": 1})), no_extras), 0.02)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client stays
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    stream = EventStream(sampler.updates(), lifetime_s=0.2)
    await asyncio.wait_for(stream({"type": "http"}, receive, send), 2)
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert sampler.watchers == 0
    await sampler.close()


def test_basic_credentials_become_a_bearer_key() -> None:
    basic = base64.b64encode(b"anyone:ss_key").decode()
    assert as_bearer(f"Basic {basic}") == "Bearer ss_key"
    assert as_bearer(f"basic {basic}") == "Bearer ss_key"
    assert as_bearer("Bearer ss_key") == "Bearer ss_key"
    assert as_bearer("Basic !!!not-base64") is None
    assert as_bearer("Basic " + base64.b64encode(b"no-colon").decode()) is None
    assert as_bearer("Basic " + base64.b64encode(b"user:").decode()) is None
    assert as_bearer(None) is None


# ---- the extras ----------------------------------------------------------------------------


class Usage:
    def __init__(self, tenant: str, requests: int, cost: float | None) -> None:
        self.tenant, self.requests, self.items, self.errors = tenant, requests, requests * 2, 1
        self.compute_s, self.tokens, self.cost = 0.5, 0, cost


def test_usage_is_summed_per_tenant() -> None:
    rows = [Usage("b", 3, None), Usage("a", 1, 0.25), Usage("a", 2, None), Usage("a", 1, 0.5)]
    assert usage_by_tenant(rows) == [
        {"tenant": "a", "requests": 4, "items": 8, "errors": 3, "compute_s": 1.5, "tokens": 0,
         "cost": 0.75},
        {"tenant": "b", "requests": 3, "items": 6, "errors": 1, "compute_s": 0.5, "tokens": 0,
         "cost": None},
    ]  # fmt: skip


def test_rollout_rows_tell_the_split_and_the_state() -> None:
    steps = (RolloutStep(weight=10), RolloutStep(weight=50, shadow=100))
    rolling = ModelState(
        "sentiment", {"production": "1"}, Rollout("2", RolloutPolicy(steps), step=1, paused=True)
    )
    swapping = ModelState("embed", {"production": "3"}, swap=Swap("4", 0.0, "admin"))
    assert rollout_rows([rolling, swapping, ModelState("quiet", {"production": "1"})]) == [
        {"model": "embed", "stable": "3", "candidate": None, "weight": 0.0, "shadow": 0.0,
         "step": None, "steps": None, "swap_to": "4", "state": "swapping"},
        {"model": "quiet", "stable": "1", "candidate": None, "weight": 0.0, "shadow": 0.0,
         "step": None, "steps": None, "swap_to": None, "state": "stable"},
        {"model": "sentiment", "stable": "1", "candidate": "2", "weight": 50, "shadow": 100,
         "step": 2, "steps": 2, "swap_to": None, "state": "paused"},
    ]  # fmt: skip


# ---- the routes, on a real service ---------------------------------------------------------


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service(f"{PROBE}:Probe", auth=True) as running:
        yield running


@pytest.fixture
async def admin(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.admin_url, timeout=30) as client:
        yield client


def basic(password: str, user: str = "admin") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ROUTES = ["/admin/dashboard", "/admin/dashboard/events", "/admin/dashboard/static/dashboard.js"]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer ss_nope", basic("ss_nope")["Authorization"], "Basic ???"]
)
async def test_no_admin_credential_gets_401_with_a_basic_challenge(
    admin: httpx.AsyncClient, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await admin.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="scaleserve admin"')
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("path", ROUTES)
async def test_a_tenant_key_gets_403(admin: httpx.AsyncClient, service: Service, path: str) -> None:
    assert service.api_key is not None
    for headers in (service.headers, basic(service.api_key)):
        response = await admin.get(path, headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"


async def test_the_admin_key_opens_the_page_as_bearer_or_basic(
    admin: httpx.AsyncClient, service: Service
) -> None:
    assert service.admin_key is not None
    for headers in (service.admin_headers, basic(service.admin_key, user="")):
        response = await admin.get("/admin/dashboard", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert '<script src="dashboard/static/dashboard.js"' in response.text
        assert "<script>" not in response.text  # no inline script: the CSP allows none


async def test_static_files_are_served_by_known_name_only(
    admin: httpx.AsyncClient, service: Service
) -> None:
    headers = service.admin_headers
    script = await admin.get("/admin/dashboard/static/uPlot.iife.min.js", headers=headers)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    again = await admin.get(
        "/admin/dashboard/static/uPlot.iife.min.js",
        headers={**headers, "If-None-Match": script.headers["etag"]},
    )
    assert again.status_code == 304
    for name in ["nope.js", "index.html", "README.md", "..%2F..%2Fdashboard%2Froutes.py", "%2e%2e"]:
        response = await admin.get(f"/admin/dashboard/static/{name}", headers=headers)
        assert response.status_code == 404, name
        assert response.json()["code"] == "not_found"


async def snapshots(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> AsyncGenerator[Any, None]:
    """The snapshots of the event stream, resumed as a browser does when a stream ends."""
    last_id: dict[str, str] = {}
    while True:
        path = "/admin/dashboard/events"
        async with client.stream("GET", path, headers={**headers, **last_id}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-store"
            async for line in stream.aiter_lines():
                if line.startswith("id: "):
                    last_id = {"Last-Event-ID": line.removeprefix("id: ")}
                elif line.startswith("data: "):
                    yield json.loads(line.removeprefix("data: "))


async def test_the_event_stream_moves_with_traffic(
    admin: httpx.AsyncClient, service: Service
) -> None:
    async with httpx.AsyncClient(base_url=service.base_url, headers=service.headers) as http:
        stream = snapshots(admin, service.admin_headers)
        first = await anext(stream)
        probe = next(m for m in first["models"] if m["model"] == "probe")
        assert probe["workers"]["ready"] == 1
        assert "usage_today" in first and "rollouts" in first and "recent_errors" in first

        async def traffic() -> None:
            while True:
                items = [{"value": 1, "sleep_ms": 5}, {"value": 2, "fail": True}]
                for item in items:
                    await http.post("/v1/models/probe/predict", json={"inputs": [item]})

        driving = asyncio.create_task(traffic())
        try:
            async with asyncio.timeout(30):
                async for snapshot in stream:
                    probe = next(m for m in snapshot["models"] if m["model"] == "probe")
                    if probe["requests_per_s"] and probe["errors_per_s"] and probe["p99_s"]:
                        break
        finally:
            driving.cancel()
            await stream.aclose()
    assert probe["p50_s"] <= probe["p95_s"] <= probe["p99_s"]
    used = {u["tenant"]: u for u in snapshot["usage_today"]}
    assert used["default"]["requests"] > 0
    [latest, *_] = snapshot["recent_errors"]
    assert latest["model"] == "probe"
    assert latest["code"] == 500
    assert latest["tenant"] == "default"
    assert "asked to fail" in latest["detail"]
