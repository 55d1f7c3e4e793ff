"""``scaleserve tenants``: the limit options reach the store as one ``Limits``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scaleserve.tenants_cli import app


@pytest.fixture
def tenants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("SCALESERVE_REDIS_URL", raising=False)
    monkeypatch.setenv("SCALESERVE_DATA_DIR", str(tmp_path))
    return CliRunner()


def limits_of(tenants: CliRunner, name: str) -> dict[str, object]:
    result = tenants.invoke(app, ["show", name])
    assert result.exit_code == 0, result.output
    limits: dict[str, object] = json.loads(result.output)["limits"]
    return limits


def test_create_and_limits_take_every_limit_option(tenants: CliRunner) -> None:
    created = tenants.invoke(
        app, ["create", "acme", "--requests-per-s", "2.5", "--daily-items", "7"]
    )
    assert created.exit_code == 0, created.output
    assert limits_of(tenants, "acme") == {
        "requests_per_s": 2.5,
        "requests_burst": None,
        "items_per_s": None,
        "items_burst": None,
        "daily_requests": None,
        "daily_items": 7,
        "max_concurrent": None,
    }
    options = ["--requests-burst", "3", "--items-per-s", "1", "--items-burst", "4"]
    options += ["--daily-requests", "9", "--max-concurrent", "2"]
    replaced = tenants.invoke(app, ["limits", "acme", *options])
    assert replaced.exit_code == 0, replaced.output
    assert limits_of(tenants, "acme") == {  # options left out became unlimited
        "requests_per_s": None,
        "requests_burst": 3,
        "items_per_s": 1.0,
        "items_burst": 4,
        "daily_requests": 9,
        "daily_items": None,
        "max_concurrent": 2,
    }


def test_a_limit_out_of_range_is_refused(tenants: CliRunner) -> None:
    result = tenants.invoke(app, ["create", "acme", "--requests-per-s", "0"])
    assert result.exit_code == 2
    assert "--requests-per-s" in result.output


def test_store_options_may_come_before_or_after_the_command(tmp_path: Path) -> None:
    runner = CliRunner()
    before, after = tmp_path / "before", tmp_path / "after"
    made = runner.invoke(app, ["--data-dir", str(before), "create", "acme"])
    assert made.exit_code == 0, made.output
    made = runner.invoke(app, ["create", "zeta", "--data-dir", str(after), "--daily-items", "5"])
    assert made.exit_code == 0, made.output

    def names(*argv: str) -> list[str]:
        listed = runner.invoke(app, list(argv))
        assert listed.exit_code == 0, listed.output
        return [tenant["name"] for tenant in json.loads(listed.output)]

    assert names("list", "--data-dir", str(before)) == ["acme"]
    assert names("--data-dir", str(after), "list") == ["zeta"]
    # given after the command, it wins over the one before
    assert names("--data-dir", str(before), "list", "--data-dir", str(after)) == ["zeta"]
