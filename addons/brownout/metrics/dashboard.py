"""The Grafana dashboard as Grafana's JSON, built from the table of panels.

`python -m brownout.metrics.dashboard dashboards/brownout.json` writes it; a test checks that the
committed file is what this module builds. The table itself is `brownout.metrics.panels`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brownout.metrics.panels import ROWS
from brownout.metrics.panels import Panel
from brownout.metrics.panels import Row
from brownout.metrics.panels import sel

UID = "brownout"
TITLE = "brownout: how your client reacts"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana 10.4 / 11.0; newer versions migrate the JSON up when they load it.
SCHEMA_VERSION = 39
GRID_WIDTH = 24


# -- JSON


def _thresholds() -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": "green", "value": None}]}


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit, "thresholds": _thresholds(), "mappings": []}
    if panel.kind == "timeseries":
        defaults["color"] = {"mode": "palette-classic"}
        defaults["min"] = 0
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if panel.stack else 5,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"},
        }
    elif panel.kind == "state-timeline":
        defaults["color"] = {"mode": "thresholds"}
        defaults["custom"] = {"fillOpacity": 80, "lineWidth": 0}
        defaults["mappings"] = [
            {
                "type": "value",
                "options": {value: {"text": text, "color": color, "index": index}},
            }
            for index, (value, text, color) in enumerate(panel.mappings)
        ]
    elif panel.kind == "bargauge":
        defaults["color"] = {"mode": "continuous-GrYlRd"}
        defaults["min"] = 0
    else:
        defaults["color"] = {"mode": "thresholds"}
    return {"defaults": defaults, "overrides": []}


def _options(panel: Panel) -> dict[str, Any]:
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    legend = {"displayMode": "list", "placement": "bottom", "showLegend": True}
    if panel.kind == "stat":
        return {
            "reduceOptions": reduce,
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        }
    if panel.kind == "state-timeline":
        return {"mergeValues": True, "showValue": "never", "rowHeight": 0.8, "alignValue": "left", "legend": legend}
    if panel.kind == "bargauge":
        return {"reduceOptions": reduce, "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True}
    return {"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}}


def _targets(panel: Panel) -> list[dict[str, Any]]:
    return [
        {
            "refId": chr(ord("A") + index),
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": query.expr,
            "legendFormat": query.legend or "__auto",
            "range": True,
            "instant": False,
        }
        for index, query in enumerate(panel.queries)
    ]


def _variables() -> list[dict[str, Any]]:
    everything = {"text": "All", "value": "$__all", "selected": True}

    def query_variable(name: str, label: str, query: str) -> dict[str, Any]:
        return {
            "type": "query",
            "name": name,
            "label": label,
            "datasource": DATASOURCE,
            "query": query,
            "definition": query,
            "refresh": 2,  # on time-range change: a new proxy shows up without a reload
            "sort": 1,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": everything,
            "options": [],
            "regex": "",
            "hide": 0,
        }

    return [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "current": {"text": "Prometheus", "value": "prometheus"},
            "options": [],
            "refresh": 1,
            "regex": "",
            "hide": 0,
        },
        query_variable("job", "Job", "label_values(brownout_build_info, job)"),
        query_variable("instance", "Instance", 'label_values(brownout_build_info{job=~"$job"}, instance)'),
    ]


def _annotations() -> list[dict[str, Any]]:
    return [
        {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
            "target": {"limit": 100, "matchAny": False, "tags": [], "type": "dashboard"},
        },
        {
            # A region per stretch a scenario was on: it starts where the scenario was switched
            # on and ends where it was switched off.
            "name": "Scenario on",
            "datasource": DATASOURCE,
            "enable": True,
            "hide": False,
            "iconColor": "red",
            "expr": f"max by (scenario) ({sel('brownout_scenario_active')}) == 1",
            "step": "15s",
            "titleFormat": "{{scenario}} on",
            "textFormat": "scenario {{scenario}} switched on",
            "tagKeys": "scenario",
        },
        {
            "name": "Timeline phase",
            "datasource": DATASOURCE,
            "enable": True,
            "hide": False,
            "iconColor": "blue",
            "expr": f"max by (scenario, phase) ({sel('brownout_timeline_phase')}) == 1",
            "step": "15s",
            "titleFormat": "{{scenario}}: {{phase}}",
            "textFormat": "timeline phase {{phase}} of {{scenario}}",
            "tagKeys": "scenario,phase",
        },
    ]


def _layout(panel_id: int, y: int, rows: Sequence[Row]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in rows:
        out.append(
            {
                "type": "row",
                "id": panel_id,
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        panel_id += 1
        y += 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            out.append(
                {
                    "type": panel.kind,
                    "id": panel_id,
                    "title": panel.title,
                    "description": panel.description or f"Moves with: {panel.moved_by}.",
                    "datasource": DATASOURCE,
                    "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
                    "targets": _targets(panel),
                    "fieldConfig": _field_config(panel),
                    "options": _options(panel),
                }
            )
            panel_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return out


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (provisioned by uid)."""
    return {
        "uid": UID,
        "title": TITLE,
        "description": "Faults brownout injected and how the client reacted: retries, Retry-After, timeouts, "
        "fallbacks, recovery, latency.",
        "tags": ["brownout", "chaos", "llm"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-30m", "to": "now"},
        "timepicker": {},
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [],
        "templating": {"list": _variables()},
        "annotations": {"list": _annotations()},
        "panels": _layout(1, 0, ROWS),
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args == ["-"]:
        sys.stdout.write(render())
        return 0
    Path(args[0]).write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
