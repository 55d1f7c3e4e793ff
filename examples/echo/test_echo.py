from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import Service, running_service


@pytest.fixture(scope="module")
def echo() -> Iterator[Service]:
    with running_service(Path(__file__).parent) as service:
        yield service


def test_echo_returns_any_json_items_unchanged(echo: Service) -> None:
    items = ["text", 42, 3.5, None, True, [1, [2]], {"nested": {"deep": ["x"]}}]
    response = httpx.post(f"{echo.base_url}/v1/models/echo/predict", json={"inputs": items})
    assert response.status_code == 200
    assert response.json() == {"model": "echo", "version": "1", "outputs": items}


def test_echo_keeps_unicode(echo: Service) -> None:
    items = ["naïve café", "日本語", "emoji 🚀"]
    response = httpx.post(f"{echo.base_url}/v1/models/echo/predict", json={"inputs": items})
    assert response.json()["outputs"] == items
