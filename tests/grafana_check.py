"""Checks that stand in for a Grafana server: schema, PromQL, and the dashboard-linter rules that matter.

- `schema_problems`: jsonschema Draft 7 against the Grafana dashboard schema (the foundation
  SDK's `dashboard.jsonschema.json`, carried in `tests/data/`). Panels are validated
  one by one against `Panel` or `RowPanel` by their type: the whole `oneOf` gives misleading
  messages.
- `queries`: every PromQL text in the dashboard (panel targets, annotations, the inner
  expression of `label_values(...)` variables), with Grafana's variables expanded as a query
  would see them (`$__rate_interval` -> `1m`, `$job` -> `.*`, ...).
- `lint_problems`: grafana/dashboard-linter's rules reimplemented over the PromQL syntax tree
  (promql-parser): datasource/job/instance variables, the datasource variable on every panel and
  target, units, targets present, `$__rate_interval` in every range, job and instance matchers on
  every selector, counters only inside rate()/increase().
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import promql_parser

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "tests" / "data" / "grafana-dashboard.schema.json"

# What Grafana substitutes before a query reaches Prometheus (a 1 m rate window, the "All" value).
DEFAULT_EXPANSIONS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(__\w+|[A-Za-z_]\w*)|\[\[(\w+)\]\]")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", re.S)
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
RANGE_FUNCTIONS = {"rate", "irate", "increase"}
RE_MATCH = str(promql_parser.MatchOp.Re)
# Units Grafana knows (a subset of valueFormats/categories.ts, the ones a proxy dashboard needs).
UNITS = {
    "short", "none", "percent", "percentunit", "s", "ms", "µs", "ns", "dtdurations", "reqps", "rps", "ops",
    "cps", "cpm", "eps", "mps", "wps", "iops", "bytes", "decbytes", "bps", "Bps", "bool", "bool_on_off",
}  # fmt: skip


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    return schema


def _validator(schema: dict[str, Any], definition: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]})


def schema_problems(dashboard: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    def collect(validator: jsonschema.Draft7Validator, instance: Any, where: str) -> None:
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            path = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{where}{'/' + path if path else ''}: {error.message}")

    collect(_validator(schema, "Dashboard"), {**dashboard, "panels": []}, "dashboard")
    panel_v, row_v = _validator(schema, "Panel"), _validator(schema, "RowPanel")
    for index, panel in enumerate(dashboard.get("panels", [])):
        title = panel.get("title", "?")
        collect(row_v if panel.get("type") == "row" else panel_v, panel, f"panels[{index}] ({title!r})")
    return problems


# -- queries


def expansions(dashboard: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Values for every variable: custom/interval ones take their first option, query ones `.*`."""
    values = dict(DEFAULT_EXPANSIONS)
    for variable in dashboard.get("templating", {}).get("list", []):
        name, kind = variable["name"], variable["type"]
        if kind == "datasource":
            values[name] = "prometheus"
        elif kind in ("custom", "interval"):
            query = variable.get("query", "")
            values[name] = query.split(",")[0].strip() if isinstance(query, str) else ".*"
        else:
            values[name] = variable.get("allValue") or ".*"
    values.update(overrides or {})
    return values


def expand(text: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise KeyError(f"undefined variable ${name} in {text!r}")
        return values[name]

    return _VARIABLE.sub(substitute, text)


@dataclass(frozen=True)
class PanelQuery:
    where: str  # "panel 'Title' A", "annotation 'Scenario on'", "variable job"
    raw: str  # as written in the JSON
    expr: str  # with the variables expanded
    panel: dict[str, Any] | None = None


def queries(dashboard: dict[str, Any], overrides: dict[str, str] | None = None) -> Iterator[PanelQuery]:
    values = expansions(dashboard, overrides)
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            where = f"panel {panel.get('title')!r} {target.get('refId')}"
            yield PanelQuery(where, target["expr"], expand(target["expr"], values), panel)
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            yield PanelQuery(
                f"annotation {annotation['name']!r}", annotation["expr"], expand(annotation["expr"], values)
            )
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] != "query":
            continue
        match = _LABEL_VALUES.match(variable["query"])
        if match is None:
            raise ValueError(f"variable {variable['name']}: expected label_values(<selector>, <label>)")
        yield PanelQuery(f"variable {variable['name']}", variable["query"], expand(match.group(1), values))


def parse_problems(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    for query in queries(dashboard):
        try:
            promql_parser.parse(query.expr)
        except Exception as exc:  # promql-parser raises ValueError with the parser's message
            problems.append(f"{query.where}: {exc}: {query.expr}")
    return problems


# -- lint rules over the syntax tree


@dataclass
class _Selector:
    name: str
    matchers: dict[str, tuple[str, str]]  # label -> (op, value)
    inside: tuple[str, ...]  # enclosing function names, innermost last
    range: timedelta | None  # the range of an enclosing matrix selector, if any


def selectors(expr: str) -> list[_Selector]:
    """Every vector selector in `expr` with the functions around it."""
    found: list[_Selector] = []

    def visit(node: Any, inside: tuple[str, ...], window: timedelta | None) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = {m.name: (str(m.op), m.value) for m in node.matchers.matchers}
            found.append(_Selector(node.name or "", matchers, inside, window))
        elif isinstance(node, promql_parser.MatrixSelector):
            visit(node.vector_selector, inside, node.range)
        elif isinstance(node, promql_parser.Call):
            for arg in node.args:
                visit(arg, (*inside, node.func.name), window)
        elif isinstance(node, promql_parser.BinaryExpr):
            visit(node.lhs, inside, window)
            visit(node.rhs, inside, window)
        elif isinstance(node, promql_parser.AggregateExpr):
            visit(node.expr, inside, window)
            if node.param is not None:
                visit(node.param, inside, window)
        elif isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
            visit(node.expr, inside, window)
        elif isinstance(node, promql_parser.SubqueryExpr):
            visit(node.expr, inside, window)

    visit(promql_parser.parse(expr), (), None)
    return found


LintRule = Callable[[dict[str, Any]], list[str]]


def rule_template_variables(dashboard: dict[str, Any]) -> list[str]:
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    problems = []
    datasource = variables.get("datasource")
    if datasource is None or datasource["type"] != "datasource" or datasource.get("query") != "prometheus":
        problems.append("template: needs a `datasource` variable of type datasource for prometheus")
    for name in ("job", "instance"):
        variable = variables.get(name)
        if variable is None:
            problems.append(f"template: needs a `{name}` variable")
            continue
        if variable.get("datasource", {}).get("uid") not in ("$datasource", "${datasource}"):
            problems.append(f"template {name}: should query the `$datasource` variable")
        if not (variable.get("multi") and variable.get("includeAll") and variable.get("allValue") == ".*"):
            problems.append(f"template {name}: should be multi-value with All as `.*`")
        if variable.get("refresh") != 2:
            problems.append(f"template {name}: should refresh on time-range change (2)")
    return problems


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        if panel.get("type") != "row":
            yield panel


def rule_panel_datasource(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    for panel in _panels(dashboard):
        refs = [panel.get("datasource", {})] + [t.get("datasource", {}) for t in panel.get("targets", [])]
        if any(ref.get("uid") not in ("$datasource", "${datasource}") for ref in refs):
            problems.append(f"panel {panel.get('title')!r}: datasource should be the `$datasource` variable")
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation and annotation.get("datasource", {}).get("uid") not in ("$datasource", "${datasource}"):
            problems.append(f"annotation {annotation['name']!r}: datasource should be the `$datasource` variable")
    return problems


def rule_panel_units(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    for panel in _panels(dashboard):
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit not in UNITS:
            problems.append(f"panel {panel.get('title')!r}: unit {unit!r} is not a known Grafana unit")
    return problems


def rule_panel_targets(dashboard: dict[str, Any]) -> list[str]:
    return [f"panel {p.get('title')!r}: no targets" for p in _panels(dashboard) if not p.get("targets")]


# `$__rate_interval` expands to this in the rate-interval rule, so a hand-written window stands out.
_RATE_SENTINEL = timedelta(seconds=4321)


def rule_target_rate_interval(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    for query in queries(dashboard, {"__rate_interval": f"{_RATE_SENTINEL.seconds}s"}):
        for found in selectors(query.expr):
            if found.range is not None and found.range != _RATE_SENTINEL:
                problems.append(f"{query.where}: range {found.range} should be [$__rate_interval]")
    return problems


def rule_target_job_instance(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    for query in queries(dashboard, {"job": "$job", "instance": "$instance"}):
        if query.where.startswith("variable"):
            continue  # the variables themselves select on the job only
        for found in selectors(query.expr):
            for label in ("job", "instance"):
                if found.matchers.get(label) != (RE_MATCH, f"${label}"):
                    problems.append(f'{query.where}: {found.name} lacks {label}=~"${label}"')
    return problems


def counter_agg_problems(dashboard: dict[str, Any], cumulative_titles: frozenset[str]) -> list[str]:
    """Counters only inside rate()/increase(), except in panels that deliberately read totals."""
    problems = []
    for query in queries(dashboard):
        if query.panel is not None and query.panel.get("title") in cumulative_titles:
            continue
        for found in selectors(query.expr):
            if found.name.endswith(COUNTER_SUFFIXES) and not RANGE_FUNCTIONS & set(found.inside):
                problems.append(f"{query.where}: counter {found.name} outside rate()/increase()")
    return problems


LINT_RULES: tuple[LintRule, ...] = (
    rule_template_variables,
    rule_panel_datasource,
    rule_panel_units,
    rule_panel_targets,
    rule_target_rate_interval,
    rule_target_job_instance,
)


def lint_problems(dashboard: dict[str, Any], cumulative_titles: frozenset[str] = frozenset()) -> list[str]:
    """Every rule's problems; panels titled in `cumulative_titles` may read counters without rate()."""
    problems: list[str] = []
    for rule in (*LINT_RULES, lambda d: counter_agg_problems(d, cumulative_titles)):
        try:
            problems.extend(rule(dashboard))
        except KeyError as exc:  # a query uses a variable the dashboard does not define
            problems.append(str(exc.args[0]))
    return problems


# -- names


def exposed_names() -> set[str]:
    """Every series name brownout can expose: its whole registry, with all addons built, and the
    Redis link's metrics, which only a replica started with `--redis` registers."""
    from prometheus_client import CollectorRegistry

    from brownout.engine.state import Brownout
    from brownout.fleet.fallbacks import Fallbacks
    from brownout.hooks.bundle import make_addons
    from brownout.metrics.fleet import FleetCollector

    state = Brownout()
    make_addons(state)
    # What the Fleet hook registers with --redis: the link's collector and the fallback counts.
    state.metrics.registry.register(FleetCollector(lambda: True, lambda: 0))
    fleet_counts = CollectorRegistry()
    Fallbacks(fleet_counts)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    names: set[str] = set()
    for family in [*state.metrics.registry.collect(), *fleet_counts.collect()]:
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def selector_names(expr: str) -> set[str]:
    return {found.name for found in selectors(expr) if found.name}
