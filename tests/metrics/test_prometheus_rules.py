"""dashboards/prometheus.yml and the rules under dashboards/rules: promtool checks and unit tests.

`promtool test rules` feeds synthetic series to every recording rule and alert (the test files sit
in dashboards/rules/tests/); here it runs as part of the suite, and every rule must have a test.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import grafana_check
from conftest import need_tool

DASHBOARDS = grafana_check.REPO / "dashboards"
RULES = sorted((DASHBOARDS / "rules").glob("*.yml"))
RULE_TESTS = sorted((DASHBOARDS / "rules" / "tests").glob("*.test.yml"))


@pytest.fixture(scope="module")
def promtool() -> str:
    return need_tool("promtool", "it checks the Prometheus config and rules")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=grafana_check.REPO)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules_of(kind: str) -> list[dict[str, Any]]:
    return [rule for path in RULES for group in load(path)["groups"] for rule in group["rules"] if kind in rule]


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.fleet.yml"])
def test_config_is_valid_and_finds_the_rules(promtool: str, config: str) -> None:
    result = run(promtool, "check", "config", str(DASHBOARDS / config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULES)} rule files found" in result.stdout


def test_rules_are_valid(promtool: str) -> None:
    assert [path.name for path in RULES] == ["alerts.yml", "fleet.yml", "recording.yml"]
    result = run(promtool, "check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    assert RULE_TESTS
    result = run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_can_fail(promtool: str, tmp_path: Path) -> None:
    """A wrong expectation makes promtool exit non-zero: the gate above is a real one."""
    test = load(DASHBOARDS / "rules" / "tests" / "recording.test.yml")
    test["rule_files"] = [str(DASHBOARDS / "rules" / "recording.yml")]
    test["tests"][0]["promql_expr_test"][0]["exp_samples"][0]["value"] = 5
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(test))
    result = run(promtool, "test", "rules", str(broken))
    assert result.returncode != 0 and "exp:" in result.stdout + result.stderr


def test_fleet_rules_sum_over_the_replicas() -> None:
    """The fleet's recording rules keep no `instance`: neither in their level nor in what they yield."""
    fleet = [rule for group in load(DASHBOARDS / "rules" / "fleet.yml")["groups"] for rule in group["rules"]]
    records = [rule["record"] for rule in fleet if "record" in rule]
    assert len(records) >= 10
    for record in records:
        assert "instance" not in record.split(":")[0], record
    tests = load(DASHBOARDS / "rules" / "tests" / "fleet.test.yml")["tests"]
    instances = {
        label.split('instance="')[1].split('"')[0]
        for t in tests
        for series in t["input_series"]
        for label in [series["series"]]
        if 'instance="' in label
    }
    assert len(instances) >= 3, "the fleet's rules are tested with several replicas"
    for t in tests:
        for case in t.get("promql_expr_test", []):
            for sample in case["exp_samples"]:
                assert "instance=" not in sample["labels"], sample


def test_fleet_rule_tests_catch_a_per_instance_sum(promtool: str, tmp_path: Path) -> None:
    """A fleet rule that kept the instance (one series per replica) fails its unit test."""
    rules = load(DASHBOARDS / "rules" / "fleet.yml")
    (faults,) = [
        r for r in rules["groups"][0]["rules"] if r.get("record") == "job_provider:brownout_faults_injected:rate1m"
    ]
    faults["expr"] = "sum by (job, instance, provider) (rate(brownout_faults_injected_total[1m]))"
    (tmp_path / "fleet.yml").write_text(yaml.safe_dump(rules))
    test = load(DASHBOARDS / "rules" / "tests" / "fleet.test.yml")
    test["rule_files"] = [str(DASHBOARDS / "rules" / "recording.yml"), str(tmp_path / "fleet.yml")]
    broken = tmp_path / "fleet.test.yml"
    broken.write_text(yaml.safe_dump(test))
    result = run(promtool, "test", "rules", str(broken))
    assert result.returncode != 0 and 'instance="a:9180"' in result.stdout + result.stderr


def test_every_rule_has_a_unit_test() -> None:
    tests = [t for path in RULE_TESTS for t in load(path)["tests"]]
    tested_alerts = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])}
    tested_exprs = {case["expr"] for t in tests for case in t.get("promql_expr_test", [])}
    alerts = {rule["alert"] for rule in rules_of("alert")}
    records = {rule["record"] for rule in rules_of("record")}
    assert alerts - tested_alerts == set()
    assert records - tested_exprs == set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            for expected in case["exp_alerts"]:
                assert expected.get("exp_annotations"), f"{case['alertname']}: assert the annotations too"


def test_alerts_are_labelled_and_annotated() -> None:
    for rule in rules_of("alert"):
        assert rule["alert"].startswith("Brownout")
        assert rule["labels"]["severity"] in ("info", "warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_read_only_metrics_brownout_exposes() -> None:
    exposed = grafana_check.exposed_names() | {"up"}
    recorded = {rule["record"] for rule in rules_of("record")}
    for rule in rules_of("record") + rules_of("alert"):
        unknown = grafana_check.selector_names(rule["expr"]) - exposed - recorded
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: no such metric {sorted(unknown)}"
