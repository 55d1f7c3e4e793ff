"""The dashboard in a real browser: headless Chromium (Debian's, driven by Playwright) opens
``/admin/dashboard`` with the admin key as HTTP Basic credentials, traffic is driven at the
service, and the charts must move. It saves a screenshot in the test's folder and, when
``SCALESERVE_DASHBOARD_SCREENSHOT`` names a path, there too, after a longer run
(``docs/dashboard.png`` is made so).

Skipped without Chromium or Playwright, except in CI (``CI=true``), where it must run.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import math
import os
import random
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleserve.testing import Service, running_service

TESTS = Path(__file__).parents[1]
TARGETS = [f"{TESTS / 'fixtures' / 'app.py'}:Probe", f"{TESTS / 'tenancy' / 'app.py'}:Priced"]
NOTHING = "\N{EN DASH}"
"""What the page shows for a number it does not have."""
SCREENSHOT_ENV = "SCALESERVE_DASHBOARD_SCREENSHOT"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_or_skip() -> str:
    """Debian's Chromium, with Playwright to drive it; skip (fail in CI) without them."""
    chromium = shutil.which("chromium")
    missing = []
    if chromium is None:
        missing.append("Chromium (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright (pip install playwright; never `playwright install`)")
    if missing:
        message = "the dashboard's browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert chromium is not None
    return chromium


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    chromium_or_skip()
    with running_service(TARGETS, auth=True) as running:
        yield running


@pytest.fixture
async def tenants(service: Service) -> dict[str, dict[str, str]]:
    """Headers of three tenants: ``default``; ``acme``, with a rate limit it will go over;
    ``globex``, without limits."""
    made = {"default": service.headers}
    async with httpx.AsyncClient(
        base_url=service.admin_url, headers=service.admin_headers
    ) as admin:
        for name, limits in (("acme", {"requests_per_s": 6, "requests_burst": 6}), ("globex", {})):
            response = await admin.post("/admin/tenants", json={"name": name, "limits": limits})
            assert response.status_code == 201, response.text
            made[name] = {"Authorization": f"Bearer {response.json()['key']['key']}"}
    return made


async def drive(service: Service, tenants: dict[str, dict[str, str]]) -> None:
    """Traffic that looks like a day at work, until cancelled: a steady stream with a slow
    swell, a cached model, an over-eager tenant (429s) and a few failing inputs (500s)."""
    started = time.monotonic()
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30, limits=limits) as http:

        async def loop(worker: int) -> None:
            draw = random.Random(worker)
            for n in itertools.count():
                swell = 1 + math.sin((time.monotonic() - started) / 6 + worker)
                await asyncio.sleep(draw.uniform(0.01, 0.05) * (2.2 - swell))
                tenant = ("default", "acme", "globex")[(worker + n) % 3]
                if tenant == "globex":
                    item: dict[str, Any] = {"text": f"q{draw.randrange(12)}", "sleep_ms": 8}
                    path = "/v1/models/priced/predict"
                else:
                    item = {"value": n, "sleep_ms": draw.uniform(1, 25), "fail": n % 23 == 0}
                    path = "/v1/models/probe/predict"
                with contextlib.suppress(httpx.HTTPError):  # a slow answer is no reason to stop
                    await http.post(path, json={"inputs": [item]}, headers=tenants[tenant])

        async with asyncio.TaskGroup() as group:
            for worker in range(6):
                group.create_task(loop(worker))


@pytest.fixture
async def traffic(
    service: Service, tenants: dict[str, dict[str, str]]
) -> AsyncIterator[dict[str, asyncio.Task[None]]]:
    """Traffic tasks the test starts (``drive``); they are cancelled when it ends."""
    running: dict[str, asyncio.Task[None]] = {}
    yield running
    for task in running.values():
        task.cancel()
    await asyncio.gather(*running.values(), return_exceptions=True)


PROBE_MOVED = """([key]) => {
    const data = window.scaleserveDashboard.data(key, "throughput");
    const latency = window.scaleserveDashboard.data(key, "latency");
    return data && Math.max(0, ...data[1].filter((v) => v != null)) > 0
        && latency[3].some((v) => v != null && v > 0);
}"""


async def test_the_dashboard_charts_move_under_traffic(
    service: Service,
    tenants: dict[str, dict[str, str]],
    traffic: dict[str, asyncio.Task[None]],
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    assert service.admin_key is not None
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_or_skip(), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                http_credentials={"username": "admin", "password": service.admin_key},
                viewport={"width": 1440, "height": 900},
            )
            page = await context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            response = await page.goto(f"{service.admin_url}/admin/dashboard")
            assert response is not None and response.status == 200

            await page.wait_for_function(
                "() => window.scaleserveDashboard?.connection() === 'live'"
                " && window.scaleserveDashboard.models().length >= 2",
                timeout=20_000,
            )
            models = await page.evaluate("() => window.scaleserveDashboard.models()")
            probe = next(key for key in models if key.split("@")[0] == "probe")
            card = page.locator(f'[data-model="{probe}"]')
            before = await page.evaluate(
                "([key]) => window.scaleserveDashboard.data(key, 'throughput')", [probe]
            )
            assert all(not value for value in before[1])  # no traffic yet: zeros, no error
            assert await card.locator('[data-field="requests_per_s"]').inner_text() in {
                "0",
                NOTHING,
            }

            traffic["drive"] = asyncio.create_task(drive(service, tenants))
            await page.wait_for_function(PROBE_MOVED, arg=[probe], timeout=30_000, polling=250)
            moved = await page.evaluate(
                "([key]) => window.scaleserveDashboard.data(key, 'throughput')", [probe]
            )
            assert len(moved[0]) > len(before[0])  # the time axis went on
            assert moved[0][-1] > before[0][-1]
            assert await card.locator('[data-field="requests_per_s"]').inner_text() != "0"
            await page.wait_for_function(  # the tenants table: acme went over its limit
                """() => {
                    const cell = document.querySelector('tr[data-tenant="acme"] td:nth-child(3)');
                    return cell && !["0", "\u2013"].includes(cell.textContent);
                }""",
                timeout=30_000,
                polling=250,
            )
            for tenant in ("default", "acme", "globex"):
                assert await page.locator(f'tr[data-tenant="{tenant}"]').count() == 1

            screenshot = os.environ.get(SCREENSHOT_ENV)
            if screenshot:  # a longer run, so the charts show a few minutes of a working day
                await asyncio.sleep(float(os.environ.get("SCALESERVE_DASHBOARD_RUN_S", "120")))
            await page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
            if screenshot:
                await page.screenshot(path=screenshot, full_page=True)
            await context.close()
        finally:
            await browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert not [p for p in problems if "Content Security Policy" in p or "Uncaught" in p], problems
    assert not problems, problems
