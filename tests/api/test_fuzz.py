"""Schemathesis fuzzes every operation of both listeners' OpenAPI documents against a real
service: no response may be a server error, and every 4xx must carry a JSON error body.

The service serves ``fuzz_app.py``, whose models never fail on purpose, so a 5xx here is
always scaleserve's own fault. Each operation gets ``MAX_EXAMPLES`` valid and as many
invalid cases (schemathesis's positive and negative generation), derandomized, so the run
is bounded and reproducible. Names and ids a fuzzer cannot guess (the served models, a
job, the tenants and their keys) go into most cases, so that they get past the 404s to the
models. Failures are collected across the whole run and reported together, each with a
curl command that replays it.

(schemathesis's pytest integration, ``schema.parametrize()`` on a lazy schema, does not run
under pytest 9, so the cases come from each operation's Hypothesis strategy here.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup

from scaleserve.testing import Service, embedded_registry, running_service
from tests.registry.service_helpers import register_scaler

FUZZ_APP = Path(__file__).with_name("fuzz_app.py")
MAX_EXAMPLES = 25
"""Cases per operation and generation mode (valid, invalid)."""
REQUEST_TIMEOUT_S = 10.0
JSON_MEDIA_TYPES = ("application/json", "application/problem+json")

pytestmark = pytest.mark.timeout(120)

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


class ErrorWithoutJson(Failure):
    """A 4xx whose body is not a JSON object."""

    code = "error_without_json"

    def __init__(self, operation: str, status: int, media_type: str, body: str) -> None:
        super().__init__(
            operation=operation,
            title="4xx without a JSON error body",
            message=f"{status} with {media_type!r}: {body[:200]!r}",
        )


def json_error_bodies(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx answers with a JSON object: a problem body, or its protocol's error."""
    if not 400 <= response.status_code < 500:
        return None
    media_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    try:
        parsed = json.loads(response.content)
    except ValueError:
        parsed = None
    if media_type not in JSON_MEDIA_TYPES or not isinstance(parsed, dict):
        label = case.operation.label
        raise ErrorWithoutJson(label, response.status_code, media_type, response.text)
    return None


CHECKS = [not_a_server_error, json_error_bodies]


@dataclass
class FuzzRun:
    """What one fuzzed listener saw: its operations, the cases and statuses of each, and
    every failure."""

    operations: set[str] = field(default_factory=set)
    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    took_s: float = 0.0

    def record(self, case: Any, response: Any, headers: dict[str, str]) -> None:
        self.cases[case.operation.label] += 1
        self.statuses[case.operation.label, response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            curl = case.as_curl_command(headers=headers)
            for failure in group.exceptions:
                answer = f"{response.status_code} {response.text[:300]!r}"
                self.failures.append(f"{failure.title}: {answer}\n    {curl}")

    def summary(self) -> str:
        classes = Counter(f"{status // 100}xx" for (_, status) in self.statuses.elements())
        succeeded = {label for (label, status) in self.statuses if status < 300}
        return (
            f"{len(self.cases)} of {len(self.operations)} operations, {self.cases.total()} "
            f"cases in {self.took_s:.1f}s, {len(succeeded)} operations answered 2xx; "
            f"{dict(sorted(classes.items()))}"
        )


Known = dict[str, list[str]]
"""Values a fuzzer cannot guess (served model names, job ids, tenant names), by the name of
the path parameter or body field that takes them."""


@dataclass(frozen=True)
class Target:
    """A listener to fuzz: where, with which credentials, and what it knows."""

    url: str
    headers: dict[str, str]
    known: Known


def fuzz(target: Target) -> FuzzRun:
    """Send every operation of the target's OpenAPI document its valid and invalid cases."""
    schema = schemathesis.openapi.from_url(target.url + "/openapi.json")
    run = FuzzRun()
    started = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        run.operations.add(operation.label)
        for mode in GenerationMode:
            _fuzz_operation(operation, mode, target, run)
    run.took_s = time.perf_counter() - started
    return run


PREFERRED: dict[str, Known] = {
    "/v1/embeddings": {"model": ["vectors"]},
    "/v1/chat/completions": {"model": ["writer"]},
    "/v1/completions": {"model": ["writer"]},
}
"""The models that an operation serves, where not every model does."""


def _steer(case: Any, data: st.DataObject, known: Known) -> None:
    """Replace, most of the time, generated names and ids with ones that exist: random ones
    get a 404 before reaching anything worth fuzzing."""
    known = {**known, **PREFERRED.get(case.operation.path, {})}
    fields = [case.path_parameters or {}, case.body if isinstance(case.body, dict) else {}]
    for values in fields:
        for key in values.keys() & known.keys():
            # None (keep the generated value) last: Hypothesis draws the first ones most
            choice = data.draw(st.sampled_from([*known[key], None]), label=key)
            if choice is not None:
                values[key] = choice


def _fuzz_operation(operation: Any, mode: Any, target: Target, run: FuzzRun) -> None:
    headers = target.headers

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def send(case: Any, data: st.DataObject) -> None:
        _steer(case, data, target.known)
        run.record(case, case.call(headers=headers, timeout=REQUEST_TIMEOUT_S), headers)

    try:
        send()
    except Unsatisfiable:
        # Negative cases need something to break: an operation with no parameters and no
        # body (GET /healthz) has none.
        if mode is GenerationMode.POSITIVE:
            raise


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The fuzz models, and a registry model (``scaler``) for the registry's admin routes."""
    data_dir = tmp_path_factory.mktemp("fuzz-data")
    asyncio.run(_register_scaler(data_dir))
    targets = [FUZZ_APP, "models:/scaler"]
    with running_service(targets, auth=True, args=["--data-dir", str(data_dir)]) as service:
        yield service


async def _register_scaler(data_dir: Path) -> None:
    async with embedded_registry(data_dir) as registry:
        await register_scaler(registry, data_dir, factor=2)


MODELS = ["echo", "orders", "cached", "ticker", "vectors", "writer"]


def test_main_listener_never_answers_5xx_and_errors_in_json(fuzz_service: Service) -> None:
    with httpx.Client(base_url=fuzz_service.base_url, headers=fuzz_service.headers) as http:
        job = http.post("/v1/jobs", json={"model": "echo", "inputs": ["x"]}).json()
    known = {"name": MODELS, "model": MODELS, "version": ["1"], "job_id": [job["id"]]}
    run = fuzz(Target(fuzz_service.base_url, fuzz_service.headers, known))
    print("main listener:", run.summary())
    assert set(run.cases) == run.operations and len(run.operations) >= 30, run.summary()
    assert not run.failures, "\n".join(run.failures)


def test_admin_listener_never_answers_5xx_and_errors_in_json(fuzz_service: Service) -> None:
    # After the main listener's run: fuzzing the admin surface creates and revokes tenants.
    with httpx.Client(base_url=fuzz_service.admin_url, headers=fuzz_service.admin_headers) as http:
        keys = http.get("/admin/tenants/default").json()["keys"]
    known = {
        "name": ["default", "scaler", *MODELS],
        "key_id": [key["id"] for key in keys],
        "version": ["1"],
        "alias": ["production", "staging"],
    }
    run = fuzz(Target(fuzz_service.admin_url, fuzz_service.admin_headers, known))
    print("admin listener:", run.summary())
    assert set(run.cases) == run.operations and len(run.operations) >= 10, run.summary()
    assert not run.failures, "\n".join(run.failures)
