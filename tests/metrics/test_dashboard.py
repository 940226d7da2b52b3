"""The Grafana dashboard without a Grafana: generator and file agree, schema, PromQL, lint rules.

The live half (a real Prometheus returns data for every panel) is tests/test_dashboard_live.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import grafana_check
from brownout.metrics import dashboard
from brownout.metrics import panels

DASHBOARD_FILE = grafana_check.REPO / "dashboards" / "brownout.json"


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return dashboard.build()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return grafana_check.load_schema()


def cumulative() -> frozenset[str]:
    return frozenset(panel.title for panel in panels.panels() if panel.cumulative)


def test_committed_file_is_what_the_generator_builds(built: dict[str, Any]) -> None:
    committed = json.loads(DASHBOARD_FILE.read_text())
    assert committed == built, (
        "dashboards/brownout.json is stale: run `uv run python -m brownout.metrics.dashboard "
        + str(DASHBOARD_FILE.relative_to(grafana_check.REPO))
        + "`"
    )
    assert DASHBOARD_FILE.read_text() == dashboard.render()


def test_cli_writes_the_file(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.json"
    assert dashboard.main([str(out)]) == 0
    assert json.loads(out.read_text()) == dashboard.build()
    assert dashboard.main([]) == 0
    assert json.loads(capsys.readouterr().out)["uid"] == dashboard.UID


def test_validates_against_the_grafana_schema(built: dict[str, Any], schema: dict[str, Any]) -> None:
    assert grafana_check.schema_problems(built, schema) == []


def test_schema_check_catches_mistakes(built: dict[str, Any], schema: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(built))
    panel = broken["panels"][1]
    panel["gridPos"]["w"] = 30
    panel["colour"] = "red"
    broken["panels"][0]["collapsed"] = "no"
    problems = grafana_check.schema_problems(broken, schema)
    assert any("gridPos/w" in p and "30" in p for p in problems), problems
    assert any("colour" in p for p in problems), problems
    assert any("collapsed" in p for p in problems), problems


def test_every_query_and_variable_parses(built: dict[str, Any]) -> None:
    assert grafana_check.parse_problems(built) == []
    wheres = [q.where for q in grafana_check.queries(built)]
    assert "variable job" in wheres and "variable instance" in wheres
    assert any(w.startswith("annotation") for w in wheres)


def test_parse_check_catches_a_broken_query(built: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(built))
    broken["panels"][1]["targets"][0]["expr"] = "sum(rate(brownout_requests_total[$__rate_interval])"
    problems = grafana_check.parse_problems(broken)
    assert len(problems) == 1 and "Scenarios on" in problems[0]


def test_lint_rules_hold(built: dict[str, Any]) -> None:
    assert grafana_check.lint_problems(built, cumulative()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d, p: p["fieldConfig"]["defaults"].pop("unit"), "unit None"),
        (lambda d, p: p.update(datasource={"type": "prometheus", "uid": "prom"}), "datasource should be"),
        (lambda d, p: p.update(targets=[]), "no targets"),
        (lambda d, p: p["targets"][0].update(expr='sum(rate(brownout_requests_total{job=~"$job"}[5m]))'), "lacks"),
        (
            lambda d, p: p["targets"][0].update(
                expr='sum(rate(brownout_requests_total{job=~"$job", instance=~"$instance"}[5m]))'
            ),
            "should be [$__rate_interval]",
        ),
        (
            lambda d, p: p["targets"][0].update(
                expr='sum(brownout_requests_total{job=~"$job", instance=~"$instance"})'
            ),
            "outside rate()",
        ),
        (lambda d, p: d["templating"]["list"][1].update(includeAll=False), "multi-value"),
        (lambda d, p: d["templating"]["list"].pop(2), "needs a `instance` variable"),
    ],
)
def test_lint_rules_catch_mistakes(built: dict[str, Any], change: Any, expected: str) -> None:
    broken = json.loads(json.dumps(built))
    panel = next(p for p in broken["panels"] if p.get("title") == "Requests")
    change(broken, panel)
    problems = grafana_check.lint_problems(broken, cumulative())
    assert any(expected in p for p in problems), problems


def test_undefined_variable_is_reported(built: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(built))
    broken["panels"][1]["targets"][0]["expr"] = 'sum(brownout_scenario_active{provider=~"$provider"})'
    with pytest.raises(KeyError, match=r"\$provider"):
        list(grafana_check.queries(broken))


def test_layout(built: dict[str, Any]) -> None:
    ids = [p["id"] for p in built["panels"]]
    assert len(ids) == len(set(ids))
    rows = [p["title"] for p in built["panels"] if p["type"] == "row"]
    assert rows[:3] == ["Overview", "Client behaviour", "Latency"]
    occupied: set[tuple[int, int]] = set()
    for panel in built["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= dashboard.GRID_WIDTH, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells


def test_the_fleet_row_shows_the_replicas_and_their_redis_link() -> None:
    (fleet,) = [row for row in panels.ROWS if row.title == "Fleet"]
    values = grafana_check.expansions(dashboard.build())
    exprs = [grafana_check.expand(q.expr, values) for panel in fleet.panels for q in panel.queries]
    read = {name for expr in exprs for name in grafana_check.selector_names(expr)}
    assert {"brownout_build_info", "brownout_redis_up", "brownout_redis_errors_total"} <= read
    per_replica = [p for p in fleet.panels if any("by (instance)" in q.expr for q in p.queries)]
    assert len(per_replica) >= 3, "the link, its errors and the switches are shown per replica"


def test_every_panel_has_a_unit_title_and_what_moves_it() -> None:
    titles = [panel.title for panel in panels.panels()]
    assert len(titles) == len(set(titles)), "panel titles are unique (the live check names them)"
    for panel in panels.panels():
        assert panel.unit and panel.moved_by, panel.title


def test_uid_and_datasource_match_the_provisioning_files(built: dict[str, Any]) -> None:
    import yaml

    provisioning = grafana_check.REPO / "dashboards" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "brownout.yaml").read_text())["datasources"]
    uids = {d["uid"] for d in datasources}
    current = next(v for v in built["templating"]["list"] if v["name"] == "datasource")["current"]
    assert current["value"] in uids
    assert 8 <= len(built["uid"]) <= 40


def test_the_docs_list_every_panel_with_what_moves_it() -> None:
    doc = (grafana_check.REPO / "docs" / "dashboard.md").read_text()
    section = doc.split("## The dashboard", 1)[1].split("\n## ", 1)[0]
    for row in panels.ROWS:
        for panel in row.panels:
            line = f"| {row.title} | {panel.title} | `{panel.unit}` | {panel.moved_by} |"
            assert line in section, f"docs/dashboard.md's panel table lacks or misdescribes: {line}"


def test_every_query_reads_metrics_brownout_exposes(built: dict[str, Any]) -> None:
    """A misspelt metric name fails here, before the live check."""
    exposed = grafana_check.exposed_names()
    for query in grafana_check.queries(built):
        unknown = grafana_check.selector_names(query.expr) - exposed
        assert not unknown, f"{query.where}: brownout exposes no {sorted(unknown)}"


def test_the_client_row_shows_bad_answers_by_fault_and_what_came_next(built: dict[str, Any]) -> None:
    (client,) = [row for row in panels.ROWS if row.title == "Client behaviour"]
    reading = [p for p in client.panels for q in p.queries if "brownout_client_bad_answers_total" in q.expr]
    assert len(reading) == 1, "one Client behaviour panel shows bad answers"
    (query,) = reading[0].queries
    assert "by (fault, next)" in query.expr and "{{next}}" in query.legend
    shown = [p for p in built["panels"] if p.get("title") == reading[0].title]
    assert shown and 'instance=~"$instance"' in shown[0]["targets"][0]["expr"]
