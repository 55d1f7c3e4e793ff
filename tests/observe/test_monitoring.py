"""The shipped Prometheus rules and Grafana dashboard: valid, tested, and about real metrics.

promtool (Debian's ``prometheus`` package) checks the rules, runs their unit tests and parses
every dashboard query; without it those tests skip, except in CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from scaleserve.observe.monitoring import monitoring_files

# The metrics scaleserve exports, with their final label sets: (name, type, labels).
# Histograms are named without their _bucket/_sum/_count series; counters with _total.
EXPORTED_METRICS: list[tuple[str, str, tuple[str, ...]]] = [
    ("scaleserve_requests_total", "counter", ("model", "version", "tenant", "code")),
    ("scaleserve_request_duration_seconds", "histogram", ("model", "version", "tenant", "code")),
    ("scaleserve_request_items_total", "counter", ("model", "version", "tenant")),
    ("scaleserve_in_flight_requests", "gauge", ("model",)),
    ("scaleserve_items_total", "counter", ("model", "version", "outcome")),
    ("scaleserve_batch_size", "histogram", ("model", "version")),
    ("scaleserve_batch_fill_ratio", "histogram", ("model", "version")),
    ("scaleserve_inference_duration_seconds", "histogram", ("model", "version")),
    ("scaleserve_queue_wait_seconds", "histogram", ("model", "version")),
    ("scaleserve_queue_depth", "gauge", ("model", "version")),
    ("scaleserve_queue_queued", "gauge", ("model", "version")),
    ("scaleserve_workers_ready", "gauge", ("model", "version")),
    ("scaleserve_workers_desired", "gauge", ("model", "version")),
    ("scaleserve_workers_current", "gauge", ("model", "version")),
    ("scaleserve_worker_restarts_total", "counter", ("model",)),
    ("scaleserve_cache_lookups_total", "counter", ("model", "tier", "result")),
    ("scaleserve_time_to_first_chunk_seconds", "histogram", ("model",)),
    ("scaleserve_streams_total", "counter", ("model", "outcome")),
    ("scaleserve_tokens_total", "counter", ("model", "direction")),
    (
        "scaleserve_accelerator_utilization_ratio",
        "gauge",
        ("model", "version", "worker", "device"),
    ),
    (
        "scaleserve_accelerator_memory_used_bytes",
        "gauge",
        ("model", "version", "worker", "device"),
    ),
    (
        "scaleserve_accelerator_memory_total_bytes",
        "gauge",
        ("model", "version", "worker", "device"),
    ),
    ("scaleserve_slo_latency_seconds", "gauge", ("model",)),
    ("scaleserve_slo_availability_ratio", "gauge", ("model",)),
    ("scaleserve_drift_score", "gauge", ("model", "version", "feature", "statistic")),
    ("scaleserve_drift_threshold", "gauge", ("model", "version", "feature", "statistic")),
    ("scaleserve_drift_alerts_total", "counter", ("model", "version", "feature")),
]

PROMTOOL_MISSING = (
    "promtool not found: install Debian's prometheus package for promtool "
    "(apt-get install prometheus)"
)
RUNBOOK = "https://github.com/scaleserve/scaleserve#observing-a-deployment"
SEVERITIES = {"critical", "warning", "info"}
SCRAPE_LABELS = {"job", "instance"}
REQUIRED_ROWS = {
    "Overview",
    "Per version",
    "Queue and workers",
    "Cache",
    "Tenants",
    "Text generation",
    "Accelerators",
    "SLO",
    "Drift",
}
# Grafana's variables, replaced as Grafana would before the query reaches Prometheus.
TEMPLATE_VALUES = {
    "model": ".*",
    "version": ".*",
    "tenant": ".*",
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
}
PANEL_UNITS = ["s", "reqps", "percentunit", "bytes", "short"]

FILES = monitoring_files()
RULES_PATH = Path(str(FILES.rules))
RULES_TEST_PATH = Path(str(FILES.rules_test))
DASHBOARD_PATH = Path(str(FILES.dashboard))


# --- promtool ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(PROMTOOL_MISSING + " (CI must run the monitoring tests)")
        pytest.skip(PROMTOOL_MISSING)
    return path


def run_promtool(promtool: str, *args: str | Path) -> None:
    result = subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_are_valid(promtool: str) -> None:
    run_promtool(promtool, "check", "rules", "--lint=all", "--lint-fatal", RULES_PATH)


def test_rules_unit_tests_pass(promtool: str) -> None:
    run_promtool(promtool, "test", "rules", RULES_TEST_PATH)


def test_every_dashboard_query_parses(promtool: str, tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, expr in enumerate(dashboard_queries().values())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool(promtool, "check", "rules", "--lint=none", path)


# --- the rules -----------------------------------------------------------------------------


def load_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES_PATH.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in load_rules() if "alert" in rule]


def test_every_alert_has_a_severity_and_annotations() -> None:
    assert len(alerts()) >= 10
    for alert in alerts():
        name = alert["alert"]
        assert name.startswith("Scaleserve"), name
        assert alert["labels"]["severity"] in SEVERITIES, name
        annotations = alert["annotations"]
        assert set(annotations) == {"summary", "description", "runbook"}, name
        assert annotations["runbook"] == RUNBOOK, name
        assert "{{ $labels." in annotations["summary"], name
        assert "{{ $labels." in annotations["description"], name


def test_every_alert_fires_in_a_test_beside_a_healthy_series_that_does_not() -> None:
    """A healthy series is one whose alert labels (model, tenant, ...) never fire in its test."""
    names = {alert["alert"] for alert in alerts()}
    fired, kept_quiet = set(), set()
    for test in yaml.safe_load(RULES_TEST_PATH.read_text())["tests"]:
        series = [parse_series(s["series"])[1] for s in test["input_series"]]
        for name in names:
            expected = [
                alert["exp_labels"]
                for case in test.get("alert_rule_test", [])
                if case["alertname"] == name
                for alert in case.get("exp_alerts") or []
            ]
            if not expected:
                continue
            fired.add(name)
            keys = sorted(set(expected[0]) - {"severity"})
            firing = {tuple(labels[k] for k in keys) for labels in expected}
            seen = {tuple(s[k] for k in keys) for s in series if set(keys) <= set(s)}
            if seen - firing:
                kept_quiet.add(name)
    assert fired == names, f"never fire in rules_test.yml: {names - fired}"
    assert kept_quiet == names, f"no healthy series beside: {names - kept_quiet}"


def parse_series(series: str) -> tuple[str, dict[str, str]]:
    name, labels = re.fullmatch(r"(\w+)\{(.*)\}", series).groups()
    return name, dict(re.findall(r'(\w+)="([^"]*)"', labels))


def test_rule_tests_feed_series_shaped_like_real_ones() -> None:
    """Synthetic series carry exactly the exported labels, plus those a scrape adds."""
    known = series_labels()
    for test in yaml.safe_load(RULES_TEST_PATH.read_text())["tests"]:
        for series in test["input_series"]:
            name, labels = parse_series(series["series"])
            assert name in known, f"unknown metric in rules_test.yml: {name}"
            assert set(labels) == known[name] | SCRAPE_LABELS, series["series"]


# --- the dashboard -------------------------------------------------------------------------


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text())
    return dashboard


def substitute(expr: str) -> str:
    """Grafana's template variables replaced by values Prometheus accepts."""
    return re.sub(
        r"\$\{(\w+)(?::\w+)?\}|\$(\w+)",
        lambda m: TEMPLATE_VALUES[m.group(1) or m.group(2)],
        expr,
    )


def dashboard_queries() -> dict[str, str]:
    """Every PromQL query of the dashboard, named by where it is, variables substituted."""
    queries = {}
    dashboard = load_dashboard()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            where = f"panel {panel['id']} ({panel['title']}) {target['refId']}"
            queries[where] = substitute(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            selector = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"])
            assert selector, f"variable {variable['name']}: expected label_values(selector, label)"
            queries[f"variable {variable['name']}"] = substitute(selector.group(1))
    return queries


GRID_POS = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
}
DATASOURCE_REF = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
TARGET = {
    "type": "object",
    "required": ["expr", "refId"],
    "properties": {
        "expr": {"type": "string", "minLength": 1},
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "legendFormat": {"type": "string"},
        "datasource": DATASOURCE_REF,
    },
}
PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"type": "string", "minLength": 1},
        "title": {"type": "string", "minLength": 1},
        "gridPos": GRID_POS,
    },
    "if": {"properties": {"type": {"const": "row"}}},
    # Rows stay expanded, so their panels follow them at the top level.
    "then": {
        "required": ["collapsed", "panels"],
        "properties": {"collapsed": {"const": False}, "panels": {"maxItems": 0}},
    },
    "else": {
        "required": ["datasource", "targets", "fieldConfig"],
        "properties": {
            "datasource": DATASOURCE_REF,
            "targets": {"type": "array", "minItems": 1, "items": TARGET},
            "fieldConfig": {
                "type": "object",
                "required": ["defaults"],
                "properties": {
                    "defaults": {
                        "type": "object",
                        "required": ["unit"],
                        "properties": {"unit": {"enum": PANEL_UNITS}},
                    },
                },
            },
        },
    },
}
VARIABLE = {
    "type": "object",
    "required": ["name", "type"],
    "properties": {
        "name": {"type": "string", "pattern": r"^\w+$"},
        "type": {"enum": ["query", "datasource", "custom", "constant", "interval", "textbox"]},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "query"}}},
            "then": {"required": ["query", "datasource"]},
        },
        {
            "if": {"properties": {"type": {"const": "datasource"}}},
            "then": {"properties": {"query": {"const": "prometheus"}}},
        },
    ],
}
DASHBOARD = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": r"^[\w-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {"type": "array", "minItems": 1, "items": PANEL},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": VARIABLE}},
        },
        "time": {"type": "object", "required": ["from", "to"]},
    },
}


def test_dashboard_matches_grafanas_schema() -> None:
    jsonschema.validate(load_dashboard(), DASHBOARD)


def test_dashboard_panel_ids_and_ref_ids_are_unique() -> None:
    panels = load_dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        refs = [target["refId"] for target in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]


def test_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in load_dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[x, y]}"
                taken[x, y] = panel["title"]


def test_dashboard_has_the_rows_and_variables() -> None:
    dashboard = load_dashboard()
    rows = {panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"}
    assert rows >= REQUIRED_ROWS
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) >= {"datasource", "model", "version", "tenant"}
    assert variables["datasource"]["type"] == "datasource"
    for name in ("model", "version", "tenant"):
        assert variables[name]["type"] == "query"
        assert variables[name]["query"].startswith("label_values(")
        # Multi-value variables become a regex alternation: only =~ matches them.
        assert variables[name]["multi"] and variables[name]["allValue"] == ".*"


def test_template_variables_are_only_used_in_regex_matchers() -> None:
    for panel in load_dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            assert not re.search(r'(?<![=!])(?:=|!=)\s*"[^"]*\$', expr), expr
            for name in re.findall(r"\$\{?(\w+)", expr):
                assert name in TEMPLATE_VALUES, f"unknown variable ${name} in {expr}"


# --- metric names --------------------------------------------------------------------------

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
MATCHER = r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\""


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression: identifiers that are neither functions,
    keywords, labels, durations nor strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(GROUPING, " ", text)
    names = re.findall(r"(?<![\w.:])([a-zA-Z_:][\w:]*)\b(?!\s*\()", text)
    return {name for name in names if name.lower() not in KEYWORDS}


def recording_rules() -> dict[str, set[str]]:
    """Recorded names and their labels: the level of ``level:metric:operations``."""
    return {
        rule["record"]: set(rule["record"].split(":")[0].split("_"))
        for rule in load_rules()
        if "record" in rule
    }


def series_labels() -> dict[str, set[str]]:
    """Every series name exported or recorded, and its labels."""
    known = {}
    for name, kind, labels in EXPORTED_METRICS:
        if kind == "histogram":
            known[f"{name}_bucket"] = {*labels, "le"}
            known[f"{name}_sum"] = set(labels)
            known[f"{name}_count"] = set(labels)
        else:
            known[name] = set(labels)
    return known | recording_rules()


def all_expressions() -> dict[str, str]:
    rules = {rule.get("alert") or rule["record"]: rule["expr"] for rule in load_rules()}
    return {f"rules.yml {name}": expr for name, expr in rules.items()} | {
        f"dashboard {where}": expr for where, expr in dashboard_queries().items()
    }


def test_metric_name_parser() -> None:
    expr = (
        'sum by (model, le) (rate(a_bucket{code=~"5..", x="by (y)"}[5m])) / on (model) '
        "group_left () b:c:d > 0.95 and histogram_quantile(0.5, e_total offset 1h)"
    )
    assert metric_names(expr) == {"a_bucket", "b:c:d", "e_total"}


def test_rules_and_dashboard_use_only_exported_or_recorded_metrics() -> None:
    known = series_labels()
    for where, expr in all_expressions().items():
        names = metric_names(expr)
        assert names, f"{where}: no metric found in {expr}"
        assert names <= set(known), f"{where}: unknown metrics {names - set(known)}"


def test_rules_and_dashboard_use_only_labels_the_metrics_have() -> None:
    known = series_labels()
    for where, expr in all_expressions().items():
        for name, body in re.findall(r"([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}", expr):
            matched = set(re.findall(MATCHER, body))
            assert matched <= known[name], f"{where}: {name} has no label {matched - known[name]}"
        available = set().union(*(known[name] for name in metric_names(expr)))
        grouped = {
            label.strip() for group in re.findall(GROUPING, expr) for label in group.split(",")
        }
        grouped.discard("")
        assert grouped <= available, f"{where}: no metric has labels {grouped - available}"


def test_dashboard_legends_name_labels_the_queries_keep() -> None:
    known = series_labels()
    for panel in load_dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = substitute(target["expr"])
            available = set().union(*(known[name] for name in metric_names(expr)))
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            assert legend <= available, f"{panel['title']}: legend uses {legend - available}"


def test_the_cli_writes_the_shipped_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from scaleserve.cli import app

    result = CliRunner().invoke(app, ["deploy", "monitoring", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert written == ["dashboard.json", "rules.yml", "rules_test.yml"]
    assert (tmp_path / "m" / "rules.yml").read_text() == monitoring_files().rules.read_text()
