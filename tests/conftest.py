from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import Service, running_service

FIXTURE_APP = Path(__file__).parent / "fixtures" / "app.py"


@pytest.fixture(scope="session")
def service() -> Iterator[Service]:
    """One service with every fixture model, shared by tests that do not harm it."""
    with running_service(FIXTURE_APP) as running:
        yield running


@pytest.fixture
async def client(service: Service) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as http:
        yield http
