"""Registry models served end to end: zero-downtime swaps under load, a refused version
that cannot load, canary splits that say who answered, and a rollout promoted by its policy
followed by one rolled back, with the history explaining both."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from scaleserve.testing import embedded_registry
from tests.registry.service_helpers import (
    FIXTURES,
    Load,
    register_scaler,
    registry_service,
    wait_for_state,
)


async def test_a_swap_under_load_fails_no_request_and_a_version_that_cannot_load_is_refused(
    tmp_path: Path,
) -> None:
    async with embedded_registry(tmp_path) as registry:
        await register_scaler(registry, tmp_path, factor=1)
        await register_scaler(registry, tmp_path, factor=2)
        await register_scaler(registry, tmp_path, fail_load=True)
    with registry_service(tmp_path, "scaler") as service:
        async with (
            httpx.AsyncClient(base_url=service.base_url, timeout=30) as client,
            httpx.AsyncClient(base_url=service.admin_url, timeout=90) as admin,
        ):
            async with Load(client, clients=8).running() as load:
                await load.until(200)
                swapped = await admin.put(
                    "/admin/models/scaler/aliases/production", json={"version": "2"}
                )
                after_swap = asyncio.get_running_loop().time()
                assert swapped.status_code == 200, swapped.text
                assert swapped.json()["aliases"] == {"production": "2"}
                await load.until(200)
                refused = await admin.put(
                    "/admin/models/scaler/aliases/production", json={"version": "3"}
                )
                await load.until(100)
            assert refused.status_code == 409, refused.text
            assert refused.json()["code"] == "deployment_refused"
            assert "weights are corrupt" in refused.json()["detail"]

            answers = load.answers
            assert [a for a in answers if a.status != 200] == []
            assert {a.version for a in answers} == {"1", "2"}
            for answer in answers:
                assert answer.body["version"] == answer.version  # header and body agree
                factor = int(answer.version or 0)
                assert answer.body["outputs"][0]["value"] == answer.value * factor
            assert all(a.version == "2" for a in answers if a.started > after_swap)
            history = (await admin.get("/admin/models/scaler/history")).json()
            actions = [e["action"] for e in history]
            assert actions[-4:] == ["swap-requested", "swapped", "swap-requested", "swap-refused"]
            state = (await admin.get("/admin/models/scaler")).json()
            assert state["aliases"] == {"production": "2"} and state["swap"] is None


async def test_a_canary_split_is_sticky_per_header_and_each_answer_names_its_version(
    tmp_path: Path,
) -> None:
    async with embedded_registry(tmp_path) as registry:
        await register_scaler(registry, tmp_path, factor=1)
        await register_scaler(registry, tmp_path, factor=3)
    with registry_service(tmp_path, "scaler") as service:
        async with (
            httpx.AsyncClient(base_url=service.base_url, timeout=30) as client,
            httpx.AsyncClient(base_url=service.admin_url, timeout=90) as admin,
        ):
            policy = {
                "steps": [{"weight": 50}],
                "sticky": "header:x-user",
                "auto_promote": False,
                "gates": {"min_samples": 100_000},
            }
            started = await admin.post(
                "/admin/models/scaler/rollout", json={"version": "2", "policy": policy}
            )
            assert started.status_code == 201, started.text
            await wait_for_state(admin, "scaler", lambda s: s["aliases"].get("canary") == "2")
            await _until_both_answer(client)
            seen: dict[str, set[str]] = {}
            for user in range(40):
                for _ in range(3):
                    response = await client.post(
                        "/v1/models/scaler/predict",
                        json={"inputs": [2.0]},
                        headers={"x-user": f"user-{user}"},
                    )
                    version = response.headers["x-model-version"]
                    assert response.json()["version"] == version
                    assert response.json()["outputs"][0]["value"] == 2.0 * {"1": 1, "2": 3}[version]
                    seen.setdefault(f"user-{user}", set()).add(version)
            assert all(len(versions) == 1 for versions in seen.values())  # sticky
            assert {v for versions in seen.values() for v in versions} == {"1", "2"}
            listed = (await client.get("/v1/models/scaler")).json()
            assert listed["rollout"]["candidate"] == "2" and listed["rollout"]["weight"] == 50


async def _until_both_answer(client: httpx.AsyncClient) -> None:
    """The candidate takes its share once it has a warm worker."""
    async with asyncio.timeout(60):
        while True:
            versions = set()
            for user in range(20):
                response = await client.post(
                    "/v1/models/scaler/predict",
                    json={"inputs": [1.0]},
                    headers={"x-user": str(user)},
                )
                versions.add(response.headers["x-model-version"])
            if versions == {"1", "2"}:
                return


async def test_a_policy_promotes_a_good_version_and_rolls_back_a_bad_one(tmp_path: Path) -> None:
    async with embedded_registry(tmp_path) as registry:
        await register_scaler(registry, tmp_path, factor=1)
        await register_scaler(registry, tmp_path, factor=1)  # retrained, agrees with v1
        await register_scaler(registry, tmp_path, factor=1, fail_share=0.1)
    hold = {"min_requests": 30}
    policy: dict[str, Any] = {
        "steps": [{"shadow": 100, **hold}, {"weight": 25, **hold}, {"weight": 50, **hold}],
        "gates": {"min_samples": 20, "max_p95_ratio": 3, "p95_slack_ms": 50},
        "sticky": "none",
    }
    with registry_service(tmp_path, "scaler") as service:
        async with (
            httpx.AsyncClient(base_url=service.base_url, timeout=30) as client,
            httpx.AsyncClient(base_url=service.admin_url, timeout=90) as admin,
        ):
            async with Load(client, clients=4).running() as load:
                await load.until(50)
                started = await admin.post(
                    "/admin/models/scaler/rollout", json={"version": "2", "policy": policy}
                )
                assert started.status_code == 201, started.text
                await wait_for_state(admin, "scaler", lambda s: s["aliases"] == {"production": "2"})
                promoted_at = len(load.answers)
                bad = {**policy, "steps": [{"weight": 50, **hold}]}
                started = await admin.post(
                    "/admin/models/scaler/rollout", json={"version": "3", "policy": bad}
                )
                assert started.status_code == 201, started.text
                await wait_for_state(admin, "scaler", lambda s: s["rollout"] is None)
                await load.until(50)
            answers = load.answers
            # the first rollout and its swap failed nothing
            assert [a for a in answers[:promoted_at] if a.status != 200] == []
            # the bad version's errors reached only the requests it answered
            failed = [a for a in answers if a.status != 200]
            assert failed and all(a.version == "3" for a in failed)
            assert all(a.body["code"] == "model_error" for a in failed)
            state = (await admin.get("/admin/models/scaler")).json()
            assert state["aliases"] == {"production": "2"}
            history = (await admin.get("/admin/models/scaler/history")).json()
    events = {e["action"]: e for e in history}
    assert [e["action"] for e in history if e["actor"] == "policy"] == [
        "step",
        "step",
        "promoted",
        "rolled-back",
    ]
    assert events["promoted"]["detail"]["candidate"]["errors"] == 0
    assert events["promoted"]["detail"]["shadow_compared"] == 0  # a weight step's window
    first_step = next(e for e in history if e["action"] == "step")
    assert first_step["detail"]["shadow_agreement"] == 1.0
    rolled_back = events["rolled-back"]
    assert "error rate" in rolled_back["reason"]
    assert rolled_back["detail"]["candidate"]["errors"] > 0
    assert rolled_back["detail"]["stable"]["errors"] == 0


async def test_a_promotion_serves_no_output_of_the_old_version_and_keeps_its_cache(
    tmp_path: Path,
) -> None:
    cached = f"{FIXTURES}/registry_app.py:CachedScaler"
    async with embedded_registry(tmp_path) as registry:
        for factor in (1, 5):
            await register_scaler(registry, tmp_path, "cachedscaler", cached, factor=factor)
    with registry_service(tmp_path, "cachedscaler") as service:
        async with (
            httpx.AsyncClient(base_url=service.base_url, timeout=30) as client,
            httpx.AsyncClient(base_url=service.admin_url, timeout=90) as admin,
        ):

            async def predict() -> tuple[float, str, str]:
                response = await client.post(
                    "/v1/models/cachedscaler/predict", json={"inputs": [7.0]}
                )
                assert response.status_code == 200, response.text
                return (
                    response.json()["outputs"][0]["value"],
                    response.headers["x-model-version"],
                    response.headers["x-cache"],
                )

            assert await predict() == (7.0, "1", "miss")
            assert await predict() == (7.0, "1", "hit-memory")
            for version, value in (("2", 35.0), ("1", 7.0)):
                moved = await admin.put(
                    "/admin/models/cachedscaler/aliases/production", json={"version": version}
                )
                assert moved.status_code == 200, moved.text
                answered = await predict()
                assert answered[:2] == (value, version)
                if version == "2":
                    assert answered[2] == "miss"  # never version 1's cached output
                else:
                    assert answered[2] == "hit-memory"  # version 1's entries were kept
