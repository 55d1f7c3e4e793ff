"""A service of the ``Probe`` model with the embedded job store and one on Redis (an
``api`` gateway and a ``worker`` apart): tests that take ``service`` run on both."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import Service, running_service, running_workers
from tests.helpers import delete_redis_prefix

PROBE = str(Path(__file__).parents[1] / "fixtures" / "app.py") + ":Probe"
MAX_WAIT_S = 2  # the service's cap, so that a wait running out is quick to see


@contextlib.contextmanager
def embedded() -> Iterator[Service]:
    with running_service(PROBE, env={"SCALESERVE_JOB_MAX_WAIT_S": str(MAX_WAIT_S)}) as service:
        yield service


@contextlib.contextmanager
def on_redis(redis_url: str, prefix: str) -> Iterator[Service]:
    env = {
        "SCALESERVE_REDIS_URL": redis_url,
        "SCALESERVE_REDIS_PREFIX": prefix,
        "SCALESERVE_JOB_MAX_WAIT_S": str(MAX_WAIT_S),
    }
    with (
        running_workers(PROBE, args=["--workers", "1"], env=env),
        running_service(PROBE, command="api", env=env) as gateway,
    ):
        yield gateway


@pytest.fixture(scope="module", params=["embedded", "redis"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    if request.param == "embedded":
        with embedded() as service:
            yield service
        return
    redis_url: str = request.getfixturevalue("redis_url")
    prefix = f"sstest-{uuid.uuid4().hex[:12]}"
    with on_redis(redis_url, prefix) as service:
        yield service
    delete_redis_prefix(redis_url, prefix)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as http:
        yield http
