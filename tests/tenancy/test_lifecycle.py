"""Tenancy across the life of a deployment: the first start, restarts, the CLI, the
refusal to run open beyond loopback, and limits shared by gateways on Redis."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from scaleserve.redis_keys import RedisKeys
from scaleserve.testing import Service, running_service, running_workers, tenants_command

APP = Path(__file__).parent / "app.py"
PRICED = "/v1/models/priced/predict"
PRINTED_KEY = re.compile(
    r"API key for (tenant 'default'|admin key) \(shown once.*?\n\s*\n\s*(ss_\S+)"
)


def printed_keys(service: Service) -> dict[str, str]:
    return dict(PRINTED_KEY.findall(service.logs()))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def predict(service: Service, key: str, text: str) -> httpx.Response:
    body = {"inputs": [{"text": text}]}
    return httpx.post(service.base_url + PRICED, json=body, headers=bearer(key), timeout=30)


def test_the_first_start_prints_keys_once_and_they_work(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    with running_service(APP, args=data, auth=False) as open_service:
        assert "AUTHENTICATION IS OFF" in open_service.logs()
    with running_service(APP, args=data, auth=True, provision=False) as first:
        keys = printed_keys(first)
        assert set(keys) == {"tenant 'default'", "admin key"}
        assert predict(first, keys["tenant 'default'"], "hello").status_code == 200
        admin = httpx.get(
            first.admin_url + "/admin/tenants", headers=bearer(keys["admin key"]), timeout=30
        )
        assert [t["name"] for t in admin.json()] == ["default"]
    with running_service(APP, args=data, auth=True, provision=False) as again:
        assert printed_keys(again) == {}
        assert predict(again, keys["tenant 'default'"], "again").status_code == 200
        usage = httpx.get(
            again.base_url + "/v1/usage", headers=bearer(keys["tenant 'default'"]), timeout=30
        ).json()["data"]
        assert usage[0]["requests"] == 2  # the first run's request survived the restart
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for key in keys.values():
        assert key.encode() not in stored
        assert key.split("_", 2)[2].encode() not in stored  # the secret may hold "_"


def test_no_auth_is_refused_beyond_loopback() -> None:
    argv = [sys.executable, "-m", "scaleserve", "serve", str(APP), "--host", "0.0.0.0", "--no-auth"]
    done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    assert b"--no-auth is refused" in done.stderr


def test_the_cli_manages_tenants_and_keys(tmp_path: Path) -> None:
    data_dir = str(tmp_path)
    created = tenants_command("create", "acme", "--requests-per-s", "5", data_dir=data_dir)
    assert created["tenant"] == "acme" and created["key"].startswith("ss_")
    second = tenants_command("key", "acme", "--label", "ci", data_dir=data_dir)
    shown = tenants_command("show", "acme", data_dir=data_dir)
    assert shown["limits"]["requests_per_s"] == 5.0
    assert {k["id"] for k in shown["keys"]} == {created["key_id"], second["key_id"]}
    assert created["key"] not in str(shown)
    tenants_command("limits", "acme", "--daily-items", "100", data_dir=data_dir)
    tenants_command("revoke-key", second["key_id"], data_dir=data_dir)
    with running_service(APP, args=["--data-dir", data_dir], auth=True, provision=False) as service:
        assert predict(service, created["key"], "x").status_code == 200
        assert predict(service, second["key"], "x").status_code == 401
        tenants_command("revoke", "acme", data_dir=data_dir)
        admitted_polls = _polls_until_refused(service, created["key"])
    listed = tenants_command("list", data_dir=data_dir)
    assert [t["name"] for t in listed] == ["acme"] and listed[0]["revoked_at"] is not None
    usage = tenants_command("usage", "--tenant", "acme", data_dir=data_dir)
    # the request before the revocation, and the polls the gateway still admitted
    assert usage[0]["requests"] == 1 + admitted_polls


def _polls_until_refused(service: Service, key: str, timeout_s: float = 10) -> int:
    """Polls until the revoked key gets 401 (gateways trust what they read about a key
    for a couple of seconds); returns how many polls were still admitted."""
    deadline = time.monotonic() + timeout_s
    admitted = 0
    while (response := predict(service, key, "x")).status_code != 401:
        assert response.status_code == 200, response.text
        assert time.monotonic() < deadline, "the revoked key still works"
        admitted += 1
        time.sleep(0.25)  # polling (under the tenant's rate): a revocation has no event
    return admitted


async def test_gateways_on_redis_share_one_rate_limit(
    redis_url: str, redis_keys: RedisKeys
) -> None:
    keys = redis_keys
    env = {"SCALESERVE_REDIS_URL": redis_url, "SCALESERVE_REDIS_PREFIX": keys.prefix}
    key = tenants_command("create", "shared", "--requests-per-s", "10",
                          "--requests-burst", "5", env=env)["key"]  # fmt: skip
    with (
        running_workers(APP, env=env),
        running_service(APP, command="api", env=env, auth=True, provision=False) as first,
        running_service(APP, command="api", env=env, auth=True, provision=False) as second,
    ):
        duration_s = 3.0
        statuses = await asyncio.gather(
            *(_offer(gateway, key, 40.0, duration_s) for gateway in (first, second))
        )
    admitted = sum(s.count(200) for s in statuses)
    expected = 10 * duration_s + 5
    assert abs(admitted - expected) <= 0.1 * expected, (admitted, expected)
    assert {code for s in statuses for code in s} == {200, 429}


async def _offer(service: Service, key: str, rate_per_s: float, duration_s: float) -> list[int]:
    loop = asyncio.get_running_loop()
    started = due = loop.time()
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as http:
        tasks: list[asyncio.Task[Any]] = []
        while loop.time() - started < duration_s:
            await asyncio.sleep(max(0.0, due - loop.time()))  # paces the load, no catching up
            due = max(due, loop.time()) + 1 / rate_per_s
            body = {"inputs": [{"text": f"{service.base_url}-{len(tasks)}"}]}
            tasks.append(asyncio.create_task(http.post(PRICED, json=body, headers=bearer(key))))
        return [r.status_code for r in await asyncio.gather(*tasks)]
