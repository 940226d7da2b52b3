"""The Grafana dashboard, built from the table of panels with Grafana's own typed builders.

`python -m brownout.metrics.dashboard dashboards/brownout.json` writes it; a test checks that the
committed file is what this module builds. The table itself is `brownout.metrics.panels`.

The builders are grafana-foundation-sdk's, in the release generated for Grafana 10.4 (pinned in
pyproject.toml's dev group: deployments use the committed JSON, only regenerating it needs the
SDK). The dashboard builder lays the panels out: each row's panels go left to right, and a line
ends once its panels are 24 columns wide.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.builders import statetimeline
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import prometheus as prometheus_models

from brownout.metrics.panels import ROWS
from brownout.metrics.panels import Panel
from brownout.metrics.panels import Query
from brownout.metrics.panels import sel

UID = "brownout"
TITLE = "brownout: how your client reacts"
DESCRIPTION = (
    "Faults brownout injected and how the client reacted: retries, Retry-After, timeouts, fallbacks, recovery, latency."
)
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Grafana 10.4 / 11.0; newer versions migrate the JSON up when they load it. The SDK's model
# defaults to an older number, so the built model gets this one.
SCHEMA_VERSION = 39
GRID_WIDTH = 24  # Grafana's grid; the builder's layout wraps a line at it

PanelBuilder = timeseries.Panel | stat.Panel | statetimeline.Panel | bargauge.Panel


# -- pieces every panel shares


def _target(index: int, query: Query) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .ref_id(chr(ord("A") + index))
        .datasource(DATASOURCE)
        .editor_mode(prometheus_models.QueryEditorMode.CODE)
        .expr(query.expr)
        .legend_format(query.legend or "__auto")
        .range()
    )


def _thresholds() -> dashboard_builders.ThresholdsConfig:
    base = models.Threshold(value=None, color="green")  # value None: from minus infinity
    return dashboard_builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps([base])


def _colors(mode: models.FieldColorModeId) -> dashboard_builders.FieldColor:
    return dashboard_builders.FieldColor().mode(mode)


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)


# -- one builder per kind of panel


def _timeseries(panel: Panel) -> timeseries.Panel:
    stacking = common.StackingMode.NORMAL if panel.stack else common.StackingMode.NONE
    return (
        timeseries.Panel()
        .color_scheme(_colors(models.FieldColorModeId.PALETTE_CLASSIC))
        .min(0)
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(20 if panel.stack else 5)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .stacking(common_builders.StackingConfig().mode(stacking).group("A"))
        .legend(_legend())
        .tooltip(
            common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        )
    )


def _stat() -> stat.Panel:
    return (
        stat.Panel()
        .color_scheme(_colors(models.FieldColorModeId.THRESHOLDS))
        .reduce_options(_last_value())
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.AREA)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .orientation(common.VizOrientation.AUTO)
        .text_mode(common.BigValueTextMode.AUTO)
    )


def _state_timeline(panel: Panel) -> statetimeline.Panel:
    mappings: list[models.ValueMapping] = [
        models.ValueMap(options={value: models.ValueMappingResult(text=text, color=color, index=index)})
        for index, (value, text, color) in enumerate(panel.mappings)
    ]
    return (
        statetimeline.Panel()
        .color_scheme(_colors(models.FieldColorModeId.THRESHOLDS))
        .fill_opacity(80)
        .line_width(0)
        .mappings(mappings)
        .merge_values(True)
        .show_value(common.VisibilityMode.NEVER)
        .row_height(0.8)
        .align_value(common.TimelineValueAlignment.LEFT)
        .legend(_legend())
    )


def _bar_gauge() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .color_scheme(_colors(models.FieldColorModeId.CONTINUOUS_GR_YL_RD))
        .min(0)
        .reduce_options(_last_value())
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .show_unfilled(True)
    )


def _visualisation(panel: Panel) -> PanelBuilder:
    if panel.kind == "timeseries":
        return _timeseries(panel)
    if panel.kind == "stat":
        return _stat()
    if panel.kind == "state-timeline":
        return _state_timeline(panel)
    if panel.kind == "bargauge":
        return _bar_gauge()
    raise ValueError(f"panel {panel.title!r}: no builder for kind {panel.kind!r}")


def _panel(panel: Panel, panel_id: int) -> PanelBuilder:
    built = (
        _visualisation(panel)
        .id(panel_id)
        .title(panel.title)
        .description(panel.description or f"Moves with: {panel.moved_by}.")
        .datasource(DATASOURCE)
        .span(panel.width)
        .height(panel.height)
        .unit(panel.unit)
        .thresholds(_thresholds())
    )
    for index, query in enumerate(panel.queries):
        built.with_target(_target(index, query))
    return built


# -- annotations


class PrometheusAnnotationQuery(models.AnnotationQuery):
    """Grafana's annotation model plus the fields the Prometheus data source reads from an
    annotation (evaluation step, title and text templates, labels turned into tags), which the
    SDK's model does not carry."""

    def __init__(self, *, step: str, title_format: str, text_format: str, tag_keys: str) -> None:
        super().__init__()
        self.step = step
        self.title_format = title_format
        self.text_format = text_format
        self.tag_keys = tag_keys

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        payload.update(
            step=self.step, titleFormat=self.title_format, textFormat=self.text_format, tagKeys=self.tag_keys
        )
        return payload


class PrometheusAnnotation(dashboard_builders.AnnotationQuery):
    """The SDK's annotation builder, building a `PrometheusAnnotationQuery`: events where `expr`
    has a sample, every 15 s, titled, described and tagged from the series' labels."""

    _internal: PrometheusAnnotationQuery

    def __init__(self, name: str, expr: str, *, title: str, text: str, tags: str) -> None:
        # Not the base's __init__: it would only make the plain model this one replaces.
        self._internal = PrometheusAnnotationQuery(step="15s", title_format=title, text_format=text, tag_keys=tags)
        self.name(name).datasource(DATASOURCE).enable(True).hide(False).expr(expr)

    def build(self) -> PrometheusAnnotationQuery:
        return self._internal


def _annotations() -> list[Builder[models.AnnotationQuery]]:
    # Grafana's own annotations and alerts, as Grafana adds them to every new dashboard.
    built_in = (
        dashboard_builders.AnnotationQuery()
        .built_in(1)
        .datasource(models.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
        .name("Annotations & Alerts")
        .type("dashboard")
        .target(dashboard_builders.AnnotationTarget().limit(100).match_any(False).tags([]).type("dashboard"))
    )
    # A region per stretch a scenario was on: it starts where the scenario was switched on and
    # ends where it was switched off.
    scenario_on = PrometheusAnnotation(
        "Scenario on",
        f"max by (scenario) ({sel('brownout_scenario_active')}) == 1",
        title="{{scenario}} on",
        text="scenario {{scenario}} switched on",
        tags="scenario",
    ).icon_color("red")
    phase = PrometheusAnnotation(
        "Timeline phase",
        f"max by (scenario, phase) ({sel('brownout_timeline_phase')}) == 1",
        title="{{scenario}}: {{phase}}",
        text="timeline phase {{phase}} of {{scenario}}",
        tags="scenario,phase",
    ).icon_color("blue")
    return [built_in, scenario_on, phase]


# -- variables


def _query_variable(name: str, label: str, query: str) -> dashboard_builders.QueryVariable:
    return (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)  # a new proxy shows up without a reload
        .sort(models.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(models.VariableOption(text="All", value="$__all", selected=True))
        .options([])
        .regex("")
        .hide(models.VariableHide.DONT_HIDE)
    )


def _variables() -> list[Builder[models.VariableModel]]:
    datasource = (
        dashboard_builders.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(models.VariableOption(text="Prometheus", value="prometheus"))
        .regex("")
        .hide(models.VariableHide.DONT_HIDE)
    )
    return [
        datasource,
        _query_variable("job", "Job", "label_values(brownout_build_info, job)"),
        _query_variable("instance", "Instance", 'label_values(brownout_build_info{job=~"$job"}, instance)'),
    ]


# -- the dashboard


def _dashboard() -> models.Dashboard:
    built = (
        dashboard_builders.Dashboard(TITLE)
        .uid(UID)
        .description(DESCRIPTION)
        .tags(["brownout", "chaos", "llm"])
        .timezone("browser")
        .editable()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .time("now-30m", "now")
        .refresh("10s")
        .version(1)
        .fiscal_year_start_month(0)
        .live_now(False)
        .week_start("")
        .links([])
        .variables(_variables())
        .annotations(_annotations())
    )
    panel_id = 1
    for row in ROWS:
        built.with_row(dashboard_builders.Row(row.title).id(panel_id).collapsed(False))
        panel_id += 1
        for panel in row.panels:
            built.with_panel(_panel(panel, panel_id))
            panel_id += 1
    model = built.build()
    model.schema_version = SCHEMA_VERSION
    return model


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (provisioned by uid)."""
    plain: dict[str, Any] = json.loads(json.dumps(_dashboard(), cls=JSONEncoder))
    return plain


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
