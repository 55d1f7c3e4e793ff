"""Traces from a client's ``traceparent`` through the gateway, the queue and a worker to the
model's call, exported over OTLP/HTTP to a real receiver: embedded and through Redis."""

from __future__ import annotations

import contextlib
import secrets
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.observe import tracing
from scaleserve.testing import Service, running_service, running_workers
from tests.helpers import delete_redis_prefix
from tests.observe.otlp_receiver import ReceivedSpan, Receiver, otlp_receiver

FIXTURES = Path(__file__).parents[1] / "fixtures"
PROBE = f"{FIXTURES / 'app.py'}:Probe"
CHATTER = f"{FIXTURES / 'stream_app.py'}:Chatter"


def tracing_env(receiver: Receiver, **more: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # export within 50 ms: the test waits for spans
        **more,
    }


@contextlib.contextmanager
def traced_service(mode: str, receiver: Receiver, redis_url: str | None) -> Iterator[Service]:
    env = tracing_env(receiver)
    targets = [PROBE, CHATTER]
    if mode == "embedded":
        with running_service(targets, workers=1, env=env, auth=True) as service:
            yield service
        return
    assert redis_url is not None
    prefix = f"sstest-{uuid.uuid4().hex[:12]}"
    env |= {"SCALESERVE_REDIS_URL": redis_url, "SCALESERVE_REDIS_PREFIX": prefix}
    try:
        with (
            running_workers(targets, args=["--workers", "1"], env=env),
            running_service(targets, command="api", env=env, auth=True) as service,
        ):
            yield service
    finally:
        delete_redis_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module", params=["embedded", "redis"])
def service(request: pytest.FixtureRequest, receiver: Receiver) -> Iterator[Service]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    with traced_service(request.param, receiver, redis_url) as service:
        yield service


def new_traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def in_trace(spans: list[ReceivedSpan], trace_id: str) -> dict[str, ReceivedSpan]:
    return {span.span_id: span for span in spans if span.trace_id == trace_id}


def named(spans: dict[str, ReceivedSpan], name: str) -> ReceivedSpan:
    found = [span for span in spans.values() if span.name == name]
    assert len(found) == 1, f"{name!r}: {[s.name for s in spans.values()]}"
    return found[0]


def has_span(trace_id: str, name: str):
    return lambda spans: any(s.trace_id == trace_id and s.name == name for s in spans)


def test_a_request_is_one_tree_from_the_client_to_the_model(
    service: Service, receiver: Receiver
) -> None:
    header, trace_id, client_span = new_traceparent()
    response = httpx.post(
        f"{service.base_url}/v1/models/probe/predict",
        json={"inputs": [{"value": 1}, {"value": 2}]},
        headers={**service.headers, "traceparent": header},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    spans = in_trace(receiver.wait_for(has_span(trace_id, "predict probe")), trace_id)
    receiver.wait_for(has_span(trace_id, "POST /v1/models/{name}/predict"))
    spans = in_trace(receiver.spans, trace_id)

    server = named(spans, "POST /v1/models/{name}/predict")
    assert server.kind == "SERVER"
    assert server.parent_id == client_span
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == "/v1/models/{name}/predict"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["scaleserve.tenant"] == "default"
    assert server.resource["scaleserve.role"] == "gateway"
    assert named(spans, "authenticate").parent_id == server.span_id
    assert named(spans, "admission").parent_id == server.span_id

    publish = named(spans, "publish probe")
    assert publish.kind == "PRODUCER"
    assert publish.parent_id == server.span_id
    assert publish.attributes["messaging.batch.message_count"] == 2

    consumers = [s for s in spans.values() if s.name == "process probe"]
    assert len(consumers) == 2  # one per item
    for consumer in consumers:
        assert consumer.kind == "CONSUMER"
        assert consumer.parent_id == publish.span_id
        assert consumer.resource["scaleserve.role"] == "worker"
        assert consumer.resource["process.pid"] != server.resource["process.pid"]

    batch = next(s for s in spans.values() if s.name == "batch probe")
    assert batch.parent_id in {c.span_id for c in consumers}
    assert {span_id for _, span_id in batch.links} >= {c.span_id for c in consumers}
    model = named(spans, "predict probe")
    assert model.parent_id == batch.span_id
    assert model.resource["process.pid"] == consumers[0].resource["process.pid"]


def test_a_batch_links_to_every_request_it_served(service: Service, receiver: Receiver) -> None:
    """Concurrent requests share a batch: the batch span names each one's trace."""
    traces = [new_traceparent() for _ in range(6)]
    with httpx.Client(timeout=30) as http, contextlib.ExitStack():
        import concurrent.futures

        def send(header: str) -> int:
            response = http.post(
                f"{service.base_url}/v1/models/probe/predict",
                json={"inputs": [{"value": 1, "sleep_ms": 50}]},
                headers={**service.headers, "traceparent": header},
            )
            return response.status_code

        with concurrent.futures.ThreadPoolExecutor(len(traces)) as pool:
            codes = list(pool.map(send, [header for header, _, _ in traces]))
    assert codes == [200] * len(traces)
    trace_ids = {trace_id for _, trace_id, _ in traces}

    def every_trace_consumed(spans: list[ReceivedSpan]) -> bool:
        consumed = {s.trace_id for s in spans if s.name == "process probe"}
        return trace_ids <= consumed

    spans = receiver.wait_for(every_trace_consumed)
    consumers = {s.span_id: s.trace_id for s in spans if s.name == "process probe"}
    linked: set[str] = set()
    for batch in (s for s in spans if s.name == "batch probe"):
        linked |= {consumers.get(span_id, "") for _, span_id in batch.links}
    assert trace_ids <= linked


def test_a_stream_records_its_first_chunk(service: Service, receiver: Receiver) -> None:
    header, trace_id, _ = new_traceparent()
    with httpx.stream(
        "POST",
        f"{service.base_url}/v1/models/chatter/stream",
        json={"input": {"words": 3}},
        headers={**service.headers, "traceparent": header},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        response.read()
    receiver.wait_for(has_span(trace_id, "predict_stream chatter"))
    spans = receiver.wait_for(has_span(trace_id, "POST /v1/models/chatter/stream"))
    server = named(in_trace(spans, trace_id), "POST /v1/models/chatter/stream")
    assert "first chunk" in server.events


def test_an_error_marks_the_spans_failed(service: Service, receiver: Receiver) -> None:
    header, trace_id, _ = new_traceparent()
    response = httpx.post(
        f"{service.base_url}/v1/models/probe/predict",
        json={"inputs": [{"value": 1, "fail": True}]},
        headers={**service.headers, "traceparent": header},
        timeout=30,
    )
    assert response.status_code >= 500
    receiver.wait_for(has_span(trace_id, "predict probe"))
    spans = in_trace(receiver.wait_for(has_span(trace_id, "process probe")), trace_id)
    error = 2  # STATUS_CODE_ERROR
    assert named(spans, "predict probe").status_code == error
    assert named(spans, "process probe").status_code == error


def test_an_unsampled_request_records_nothing(service: Service, receiver: Receiver) -> None:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    response = httpx.post(
        f"{service.base_url}/v1/models/probe/predict",
        json={"inputs": [{"value": 1}]},
        headers={**service.headers, "traceparent": f"00-{trace_id}-{span_id}-00"},
        timeout=30,
    )
    assert response.status_code == 200
    # A sampled request after it: once its spans are in, the unsampled one's would be too.
    header, marker, _ = new_traceparent()
    httpx.post(
        f"{service.base_url}/v1/models/probe/predict",
        json={"inputs": [{"value": 2}]},
        headers={**service.headers, "traceparent": header},
        timeout=30,
    )
    spans = receiver.wait_for(has_span(marker, "predict probe"))
    receiver.wait_for(has_span(marker, "POST /v1/models/{name}/predict"))
    assert not [s for s in spans if s.trace_id == trace_id]


def test_tracing_is_off_unless_the_environment_asks() -> None:
    assert not tracing.wanted({})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})
    assert not tracing.wanted({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})


@pytest.mark.parametrize("backend", ["embedded", "redis"])
def test_a_jobs_trace_goes_on_through_its_run_and_its_webhook(
    backend: str, receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    from tests.jobs.test_webhook_delivery import Receiver as WebhookReceiver

    hook = WebhookReceiver()
    threading.Thread(target=hook.server.serve_forever, daemon=True).start()
    env = tracing_env(
        receiver, SCALESERVE_WEBHOOK_ALLOW="127.0.0.1", SCALESERVE_WEBHOOK_SECRET="s3cret"
    )
    prefix = f"sstest-{uuid.uuid4().hex[:12]}"
    if backend == "redis":
        env |= {
            "SCALESERVE_REDIS_URL": request.getfixturevalue("redis_url"),
            "SCALESERVE_REDIS_PREFIX": prefix,
        }
    header, trace_id, _ = new_traceparent()
    try:
        with running_service(PROBE, workers=1, env=env, auth=True) as service:
            response = httpx.post(
                f"{service.base_url}/v1/jobs",
                json={"model": "probe", "inputs": [{"value": 3}], "webhook": {"url": hook.url}},
                headers={**service.headers, "traceparent": header},
                timeout=30,
            )
            assert response.status_code == 202, response.text
            assert hook.arrived.wait(60)
            spans = receiver.wait_for(has_span(trace_id, "deliver webhook"))
            spans = receiver.wait_for(has_span(trace_id, "predict probe"))
    finally:
        hook.server.shutdown()
        hook.server.server_close()
        if backend == "redis":
            delete_redis_prefix(env["SCALESERVE_REDIS_URL"], prefix)
    traced = in_trace(spans, trace_id)
    server = named(traced, "POST /v1/jobs")
    consumer = named(traced, "process probe")
    if backend == "embedded":  # the gateway runs the job: its run is a span of its own
        run = named(traced, "run job probe")
        assert run.parent_id == server.span_id
        assert named(traced, "publish probe").parent_id == run.span_id
    else:  # the job's items go to the stream straight from the submission
        assert consumer.resource["scaleserve.role"] == "worker"
    deliver = named(traced, "deliver webhook")
    post = named(traced, "POST")
    assert post.kind == "CLIENT"
    assert post.parent_id == deliver.span_id
    [(headers, _)] = hook.requests
    assert headers["traceparent"].split("-")[1] == trace_id
