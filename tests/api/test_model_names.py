"""Model names that look like paths, in every place a request names a model: each is
refused (400, or 404 when the path no longer matches any route) with a JSON error, never a
5xx; nothing is ever read from disk by name, which a watched canary file proves.

The requests go out on raw sockets: an HTTP client would resolve ``..`` in a path itself.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleserve.testing import Service, running_service
from tests.api.hostile import (
    TIMEOUT_S,
    RawResponse,
    admin_listener,
    error_code,
    main_listener,
    raw_request,
    watching,
)

FUZZ_APP = Path(__file__).with_name("fuzz_app.py")
SECRET = "canary-7f3a: if you can read this, a model name was used as a path"

pytestmark = pytest.mark.timeout(60)

TRAVERSALS = [
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "..\\..\\etc\\passwd",
    "..%5c..%5cetc%5cpasswd",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "%00",
    "echo%00",
    "echo%00.py",
    "echo%0a",
    "%EF%BC%8E%EF%BC%8E%EF%BC%8Fetc%EF%BC%8Fpasswd",  # full-width dots and solidus
    "ECHO",
    "a" * 5000,
]
"""Each as it goes on the wire, inside the request's path."""

PATH_ROUTES = [
    ("GET", "/v1/models/{}"),
    ("POST", "/v1/models/{}/predict"),
    ("POST", "/v1/models/{}/stream"),
    ("GET", "/v2/models/{}"),
    ("GET", "/v2/models/{}/ready"),
    ("POST", "/v2/models/{}/infer"),
    ("GET", "/v2/models/{}/versions/1"),
]
BODY = b'{"inputs": ["x"]}'


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service(FUZZ_APP, auth=True) as running:
        yield running


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outside-any-model-root") / "canary.py"
    path.write_text(SECRET)
    return path


def canary_names(canary: Path) -> list[str]:
    """Names that lead to the canary: absolute, and relative to the service's directory."""
    relative = os.path.relpath(canary, Path.cwd())
    quoted = [urllib.parse.quote(p, safe="") for p in (str(canary), relative)]
    return [*quoted, str(canary.with_suffix("")), relative.removesuffix(".py")]


def assert_refused_in_json(response: RawResponse, statuses: tuple[int, ...] = (400, 404)) -> None:
    assert response.status in statuses, response
    assert isinstance(response.json(), dict)
    assert SECRET.encode() not in response.body and b"root:" not in response.body


@pytest.mark.parametrize(("method", "route"), PATH_ROUTES)
def test_names_in_the_path_are_refused_and_never_read(
    service: Service, canary: Path, method: str, route: str
) -> None:
    listener = main_listener(service)
    with watching(canary) as watch:
        for name in [*TRAVERSALS, *canary_names(canary)]:
            response = raw_request(listener, method, route.format(name), body=BODY)
            assert_refused_in_json(response)
        assert watch.events() == 0


def test_a_raw_non_ascii_path_is_refused_by_the_http_parser(service: Service, canary: Path) -> None:
    """Full-width dots sent raw (UTF-8, not percent-encoded) are not HTTP: uvicorn's parser
    answers 400 itself (in plain text: no route of ours is ever reached)."""
    with watching(canary) as watch:
        target = "/v1/models/\uff0e\uff0e\uff0fetc\uff0fpasswd/predict"
        response = raw_request(main_listener(service), "POST", target, body=BODY)
        assert response.status == 400 and SECRET.encode() not in response.body
        assert watch.events() == 0


def test_an_invalid_name_is_400_naming_the_rule(service: Service) -> None:
    response = raw_request(main_listener(service), "POST", "/v1/models/echo%00/predict", body=BODY)
    assert response.status == 400 and response.json()["code"] == "invalid_model_name"
    unknown = raw_request(main_listener(service), "POST", "/v1/models/nope/predict", body=BODY)
    assert unknown.status == 404 and unknown.json()["code"] == "unknown_model"
    long = raw_request(main_listener(service), "GET", "/v1/models/" + "a" * 5000)
    assert long.status == 400 and len(long.body) < 500  # the name is not echoed whole


def test_the_admin_cache_purge_takes_no_path_for_a_name(service: Service, canary: Path) -> None:
    listener = admin_listener(service)
    with watching(canary) as watch:
        for name in [*TRAVERSALS, *canary_names(canary)]:
            response = raw_request(listener, "DELETE", f"/admin/models/{name}/cache")
            assert_refused_in_json(response)
        assert watch.events() == 0


BODY_ROUTES: list[tuple[str, Callable[[str], dict[str, Any]], int, str]] = [
    ("/v1/embeddings", lambda name: {"model": name, "input": "x"}, 400, "invalid_model_name"),
    (
        "/v1/chat/completions",
        lambda name: {"model": name, "messages": [{"role": "user"}]},
        400,
        "invalid_model_name",
    ),
    ("/v1/completions", lambda name: {"model": name, "prompt": "x"}, 400, "invalid_model_name"),
    # a job's model is a field of its body, checked with the others: 422 like them
    ("/v1/jobs", lambda name: {"model": name, "inputs": ["x"]}, 422, "invalid_input"),
]


@pytest.mark.parametrize(("path", "body", "status", "code"), BODY_ROUTES)
def test_names_in_the_body_are_refused_and_never_read(
    service: Service,
    canary: Path,
    path: str,
    body: Callable[[str], dict[str, Any]],
    status: int,
    code: str,
) -> None:
    names = [urllib.parse.unquote(n) for n in TRAVERSALS] + [str(canary), str(canary)[1:]]
    with (
        watching(canary) as watch,
        httpx.Client(base_url=service.base_url, headers=service.headers) as http,
    ):
        for name in names:
            response = http.post(path, json=body(name), timeout=TIMEOUT_S)
            assert response.status_code == status, response.text
            assert error_code(response) == code and SECRET not in response.text
        assert watch.events() == 0
