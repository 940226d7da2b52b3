"""The Grafana dashboard, built from a table of panels.

`python -m brownout.metrics.dashboard dashboards/brownout.json` writes it; a test checks that the
committed file is what this module builds. Adding a panel is one `Panel(...)` line in `ROWS`.

Every query selects `job=~"$job", instance=~"$instance"` and reads counters through `rate()`
over `$__rate_interval`, so the dashboard works for one proxy or many; `cumulative=True` marks
the few panels that read a total since the proxy started (an event too rare for a rate).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

UID = "brownout"
TITLE = "brownout: how your client reacts"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE_INTERVAL = "$__rate_interval"
SELECTOR = 'job=~"$job", instance=~"$instance"'
# Grafana 10.4 / 11.0; newer versions migrate the JSON up when they load it.
SCHEMA_VERSION = 39
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[Query, ...]
    moved_by: str  # what makes it move: the README's panel table and the live check's run say the same
    kind: str = "timeseries"  # timeseries | stat | state-timeline | bargauge
    description: str = ""
    width: int = 8
    height: int = 8
    stack: bool = False
    cumulative: bool = False  # reads totals since the proxy started instead of rates
    mappings: tuple[tuple[str, str, str], ...] = ()  # (value, text, color) for state timelines


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


# -- query helpers: each returns PromQL text with the job/instance selector in place


def sel(metric: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join((SELECTOR, *matchers))}}}"


def rate(metric: str, *matchers: str) -> str:
    return f"rate({sel(metric, *matchers)}[{RATE_INTERVAL}])"


def sum_rate(metric: str, by: str = "", *matchers: str) -> str:
    return f"sum by ({by}) ({rate(metric, *matchers)})" if by else f"sum({rate(metric, *matchers)})"


def by_rate(metric: str, by: str, legend: str, *matchers: str) -> tuple[Query, ...]:
    return (Query(sum_rate(metric, by, *matchers), legend),)


def quantile(histogram: str, q: float, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) ({rate(histogram + '_bucket')}))"


def quantiles(histogram: str, by: str, qs: Sequence[float] = (0.5, 0.95, 0.99), label: str = "") -> tuple[Query, ...]:
    legend = " ".join(f"{{{{{name.strip()}}}}}" for name in by.split(","))
    prefix = f"{label} " if label else ""
    return tuple(Query(quantile(histogram, q, by), f"{legend} {prefix}p{round(q * 100)}") for q in qs)


def mean(histogram: str, by: str, label: str = "mean") -> Query:
    legend = " ".join(f"{{{{{name.strip()}}}}}" for name in by.split(","))
    expr = f"{sum_rate(histogram + '_sum', by)} / {sum_rate(histogram + '_count', by)}"
    return Query(expr, f"{legend} {label}")


def share(metric: str, part: str, by: str = "") -> str:
    """The share of `metric`'s rate whose series match `part`; no matching series counts as 0."""
    return f"({sum_rate(metric, by, part)} or {sum_rate(metric, by)} * 0) / {sum_rate(metric, by)}"


ON_OFF = (("0", "off", "transparent"), ("1", "on", "red"))
PHASE = (("0", "", "transparent"), ("1", "current", "blue"))

REQUESTS = "brownout_requests_total"
FAULTS = "brownout_faults_injected_total"
FAILED = 'code!~"[23].."'
NOW = "brownout_scenario_active"


def one(expr: str, legend: str = "") -> tuple[Query, ...]:
    return (Query(expr, legend),)


def stat(title: str, unit: str, expr: str, moved_by: str, description: str = "") -> Panel:
    return Panel(title, unit, one(expr), moved_by, kind="stat", width=4, height=4, description=description)


# One entry per panel: title, unit, queries, what moves it; then layout and kind.
# fmt: off
ROWS: tuple[Row, ...] = (
    Row("Overview", (
        stat("Scenarios on", "short", f"sum(max by (scenario) ({sel(NOW)}))", "switching any scenario on"),
        stat("Requests", "reqps", sum_rate(REQUESTS), "any traffic"),
        stat("Failed answers", "percentunit", share(REQUESTS, FAILED), "error, timeout and reset faults",
             "Share of answers that were not 2xx/3xx: error statuses, resets, hangs, abandonments."),
        stat("Faults injected", "cps", sum_rate(FAULTS), "any fault firing"),
        stat("Requests in flight", "short", f"sum({sel('brownout_inflight_requests')})",
             "latency and timeout faults holding requests"),
        stat("Retry storms now", "short", f"sum(max by (provider) ({sel('brownout_client_retry_storm_active')}))",
             "quick retries under a 100% error scenario",
             "Providers under a retry storm: 10+ retries in 10 s, at least one per first attempt."),
        Panel("Scenarios", "short", one(f"max by (scenario) ({sel(NOW)})", "{{scenario}}"),
              "switching scenarios on and off", kind="state-timeline", width=12, height=6, mappings=ON_OFF),
        Panel("Timeline phase", "short",
              one(f"max by (scenario, phase) ({sel('brownout_timeline_phase')})", "{{scenario}}: {{phase}}"),
              "a scenario with a timeline switched on", kind="state-timeline", width=12, height=6, mappings=PHASE),
        Panel("Requests by provider and status", "reqps",
              by_rate(REQUESTS, "provider, code", "{{provider}} {{code}}"),
              "any traffic; error faults add their status", width=12, stack=True),
        Panel("Faults injected by type", "cps", by_rate(FAULTS, "fault, scenario", "{{fault}} ({{scenario}})"),
              "any fault firing", width=12, stack=True),
    )),
    Row("Client behaviour", (
        Panel("Retries by provider and cause", "reqps",
              by_rate("brownout_client_retries_total", "provider, after", "{{provider}} after {{after}}"),
              "errors the SDK retries (429, 5xx, resets, timeouts)", stack=True),
        Panel("Attempts per logical request", "short",
              (mean("brownout_client_attempts", "provider"),
               *quantiles("brownout_client_attempts", "provider", (0.95,))),
              "retried errors", description="1 is a clean call; the openai and anthropic SDKs stop at 3."),
        Panel("Logical requests by outcome", "reqps",
              by_rate("brownout_client_attempts_count", "provider, outcome", "{{provider}} {{outcome}}"),
              "failures the client gives up on, abandonments", stack=True),
        Panel("Retry delay (client backoff)", "s",
              quantiles("brownout_client_retry_delay_seconds", "provider", (0.5, 0.95)),
              "retried errors; a Retry-After the SDK obeys lengthens it"),
        Panel("Retries before Retry-After elapsed", "percentunit",
              one(f"{sum_rate('brownout_client_retry_after_violations_total', 'provider, client')}"
                  f" / {sum_rate('brownout_client_retries_total', 'provider, client')}", "{{provider}} {{client}}"),
              "a Retry-After the SDK ignores (google-genai ignores them all)",
              description="Share of retries sent before the wait the failed answer asked for had elapsed."),
        Panel("Retries of non-retryable errors", "cps",
              by_rate("brownout_client_nonretryable_retries_total", "provider, client", "{{provider}} {{client}}"),
              "insufficient_quota, 400, 401 retried anyway"),
        Panel("Abandoned attempts", "cps",
              by_rate("brownout_client_abandoned_total", "provider, endpoint", "{{provider}} {{endpoint}}"),
              "a timeout fault and a client timeout shorter than the hang"),
        Panel("Observed client timeouts", "s",
              (*quantiles("brownout_client_abandon_wait_seconds", "provider", (0.5,), "waited"),
               *quantiles("brownout_client_abandon_declared_timeout_seconds", "provider", (0.5,), "declared")),
              "a timeout fault and a client timeout shorter than the hang",
              description="How long clients waited before they closed, beside the timeout their SDK declared."),
        Panel("Fallbacks", "cps",
              by_rate("brownout_client_fallbacks_total", "from_provider, to_provider",
                      "{{from_provider}} → {{to_provider}}"),
              "an app that moves the conversation to another provider after a failure"),
        Panel("Time to fall back", "s",
              quantiles("brownout_client_fallback_seconds", "from_provider, to_provider", (0.5, 0.95)),
              "an app that moves the conversation to another provider after a failure"),
        Panel("Recovery time after switch-off", "s",
              one(f"sum by (scenario, provider) ({sel('brownout_client_recovery_seconds_sum')})"
                  f" / sum by (scenario, provider) ({sel('brownout_client_recovery_seconds_count')})",
                  "{{scenario}} {{provider}}"),
              "a scenario switched off while traffic flows", kind="bargauge", cumulative=True,
              description="Mean since the proxy started: switch-off to the start of the first attempt that "
              "then succeeded."),
        Panel("429 answers", "reqps", by_rate(REQUESTS, "provider", "{{provider}}", 'code="429"'),
              "rate_limit buckets running dry, 429 error faults"),
    )),
    Row("Latency", (
        Panel("Request duration", "s", quantiles("brownout_request_duration_seconds", "provider"),
              "any traffic; latency and timeout faults", width=12),
        Panel("Time to first byte", "s", quantiles("brownout_time_to_first_byte_seconds", "provider"),
              "any traffic; latency faults", width=12),
        Panel("Request duration p95 by endpoint", "s",
              one(quantile("brownout_request_duration_seconds", 0.95, "provider, endpoint"),
                  "{{provider}} {{endpoint}}"),
              "any traffic", width=12),
        Panel("Requests in flight by provider", "short",
              one(f"sum by (provider) ({sel('brownout_inflight_requests')})", "{{provider}}"),
              "latency and timeout faults holding requests", width=12),
    )),
    Row("Streams", (
        Panel("Streams by outcome", "cps",
              by_rate("brownout_streams_total", "provider, outcome", "{{provider}} {{outcome}}"),
              "streamed calls; stream faults end them cut, stalled, errored, corrupted", stack=True),
        Panel("Broken streams", "percentunit",
              one(share("brownout_streams_total", 'outcome!="completed"', "provider"), "{{provider}}"),
              "stream_cut, stream_stall, stream_error, stream_corrupt; clients leaving mid-stream",
              description="Share of event streams that did not complete for the client."),
        Panel("Time to first event", "s", quantiles("brownout_stream_time_to_first_event_seconds", "provider"),
              "streamed calls; latency faults and stream_slow's first_event_delay",
              description="Request start to the first whole SSE event the client received: time to first token."),
        Panel("Events relayed", "eps", by_rate("brownout_stream_events_total", "provider", "{{provider}}"),
              "streamed calls; stream_slow thins them, cuts end them", width=12),
        Panel("Time-based stream faults live", "bool_on_off",
              one(f"min({sel('brownout_stream_adapter_enabled')})"),
              "always on where mitmproxy fits (0: stream faults run content-only)", kind="stat", width=12,
              description="Whether stalls, pacing and timed cuts apply; 0 when brownout runs content-only."),
    )),
)
# fmt: on


def panels() -> list[Panel]:
    return [panel for row in ROWS for panel in row.panels]


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
