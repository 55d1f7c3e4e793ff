"""The registry's admin routes: bad input gets a 4xx problem body naming it, uploads are
unpacked safely, two changes at once get one 409, and a version registered over HTTP with
another's code serves."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

import httpx
import pytest

from scaleserve.testing import embedded_registry
from tests.registry.service_helpers import register_scaler, registry_service


def _archive(**files: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _escaping_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("../../escape.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    return buffer.getvalue()


TAR = {"content-type": "application/gzip"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("admin-registry")

    async def setup() -> None:
        async with embedded_registry(data_dir) as registry:
            await register_scaler(registry, data_dir, factor=1)
            await register_scaler(registry, data_dir, factor=1)

    asyncio.run(setup())
    with registry_service(data_dir, "scaler") as running:
        yield running


@pytest.fixture
async def admin(service):  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.admin_url, timeout=90) as client:
        yield client


M = "/admin/models/scaler"
ROLLOUT = f"{M}/rollout"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/admin/models/nope", None, 404, "unknown_model"),
        ("GET", f"{M}/versions/9", None, 404, "unknown_version"),
        ("GET", f"{M}/versions/staging", None, 404, "unknown_version"),
        ("GET", "/admin/models/BAD%20NAME/history", None, 400, "bad_request"),
        ("GET", "/admin/models/..%2f..%2fetc/history", None, 404, "not_found"),
        ("PUT", f"{M}/aliases/production", {"version": "9"}, 404, "unknown_version"),
        ("PUT", f"{M}/aliases/Bad_Alias", {"version": "1"}, 400, "bad_request"),
        ("PUT", f"{M}/aliases/staging", {"version": 1}, 422, "invalid_input"),
        ("PUT", f"{M}/aliases/canary", {"version": "2"}, 400, "bad_request"),
        ("DELETE", f"{M}/aliases/staging", None, 404, "unknown_alias"),
        ("DELETE", f"{M}/aliases/production", None, 400, "bad_request"),
        ("POST", ROLLOUT, {"version": "1"}, 409, "conflict"),
        ("POST", ROLLOUT, {"version": "2", "policy": {"steps": []}}, 422, "invalid_input"),
        ("POST", ROLLOUT, {"version": "2", "weight": 101}, 422, "invalid_input"),
        ("POST", f"{ROLLOUT}/promote", None, 409, "conflict"),
        ("POST", f"{ROLLOUT}/explode", None, 400, "bad_request"),
    ],
)  # fmt: skip
async def test_bad_requests_get_a_problem_naming_them(
    admin: httpx.AsyncClient, method: str, path: str, body: object, status: int, code: str
) -> None:
    response = await admin.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_uploads_are_checked_before_anything_is_stored(admin: httpx.AsyncClient) -> None:
    url = "/admin/models/scaler/versions"
    wrong_type = await admin.post(
        url, params={"like": "1"}, content=b"x", headers={"content-type": "text/plain"}
    )
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (415, "unsupported_media_type")
    escaping = await admin.post(url, params={"like": "1"}, content=_escaping_archive(), headers=TAR)
    assert (escaping.status_code, escaping.json()["code"]) == (422, "unsafe_artifact")
    garbage = await admin.post(url, params={"like": "1"}, content=b"not an archive", headers=TAR)
    assert (garbage.status_code, garbage.json()["code"]) == (422, "unsafe_artifact")
    no_class = await admin.post(url, content=_archive(**{"config.json": b"{}"}), headers=TAR)
    assert no_class.status_code == 400
    a_path = await admin.post(
        url,
        params={"model_class": "/etc/app.py:Scaler"},
        content=_archive(**{"a": b"1"}),
        headers=TAR,
    )
    assert a_path.status_code == 400 and "module:Class" in a_path.json()["detail"]
    versions = (await admin.get("/admin/models/scaler")).json()["versions"]
    assert [v["version"] for v in versions] == ["1", "2"]  # nothing was registered


async def test_a_version_uploaded_like_another_serves_with_its_own_artifact(
    service,
    admin: httpx.AsyncClient,  # type: ignore[no-untyped-def]
) -> None:
    uploaded = await admin.post(
        "/admin/models/scaler/versions",
        params={"like": "1", "version": "http-1"},
        content=_archive(**{"config.json": b'{"factor": 4}'}),
        headers=TAR,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["registered_by"].startswith("admin")
    assert [f["path"] for f in uploaded.json()["files"]] == ["config.json"]
    moved = await admin.put(f"{M}/aliases/production", json={"version": "http-1"})
    assert moved.status_code == 200, moved.text
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        answer = await client.post("/v1/models/scaler/predict", json={"inputs": [2.0]})
    assert answer.headers["x-model-version"] == "http-1"
    assert answer.json()["outputs"][0]["value"] == 8.0


async def test_of_two_changes_at_once_one_gets_409(admin: httpx.AsyncClient) -> None:
    first, second = await asyncio.gather(
        admin.put(f"{M}/aliases/staging", json={"version": "1"}),
        admin.put(f"{M}/aliases/qa", json={"version": "2"}),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses in ([200, 200], [200, 409])  # both, unless they raced on one revision
    policy = {"steps": [{"weight": 10}], "auto_promote": False}
    raced = await asyncio.gather(
        *(
            admin.post("/admin/models/scaler/rollout", json={"version": v, "policy": policy})
            for v in ("1", "2")
        )
    )
    codes = sorted(r.status_code for r in raced)
    assert codes == [201, 409], [r.text for r in raced]
    rolled = await admin.post("/admin/models/scaler/rollout/rollback")
    assert rolled.status_code == 200


async def test_a_version_whose_artifact_changed_is_never_loaded(
    service,
    admin: httpx.AsyncClient,  # type: ignore[no-untyped-def]
) -> None:
    uploaded = await admin.post(
        "/admin/models/scaler/versions",
        params={"like": "1", "version": "tampered"},
        content=_archive(**{"config.json": b'{"factor": 9}'}),
        headers=TAR,
    )
    assert uploaded.status_code == 201, uploaded.text
    [config] = uploaded.json()["files"]
    data_dir = Path(_flag(service.process.args, "--data-dir"))
    blob = data_dir / "artifacts" / "sha256" / config["sha256"][:2] / config["sha256"]
    blob.chmod(0o644)
    blob.write_bytes(b'{"factor": 1000}')  # the stored artifact is changed behind our back
    moved = await admin.put("/admin/models/scaler/aliases/production", json={"version": "tampered"})
    assert (moved.status_code, moved.json()["code"]) == (409, "deployment_refused")
    assert "sha256" in moved.json()["detail"]
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        answer = await client.post("/v1/models/scaler/predict", json={"inputs": [1.0]})
    assert answer.status_code == 200 and answer.headers["x-model-version"] != "tampered"


async def test_a_running_rollout_takes_a_new_policy(admin: httpx.AsyncClient) -> None:
    policy = {"steps": [{"weight": 10}, {"weight": 20}], "auto_promote": False}
    current = (await admin.get("/admin/models/scaler")).json()["aliases"]["production"]
    candidate = "1" if current != "1" else "2"
    started = await admin.post(ROLLOUT, json={"version": candidate, "policy": policy})
    assert started.status_code == 201, started.text
    changed = await admin.put(f"{ROLLOUT}/policy", json={"policy": {"steps": [{"weight": 40}]}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["rollout"]["policy"]["steps"][0]["weight"] == 40
    bad = await admin.put(f"{ROLLOUT}/policy", json={"policy": {"steps": [{"weight": -1}]}})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_input")
    assert (await admin.post(f"{ROLLOUT}/rollback")).status_code == 200


def _flag(argv: object, name: str) -> str:
    args = list(argv)  # type: ignore[call-overload]
    return str(args[args.index(name) + 1])
