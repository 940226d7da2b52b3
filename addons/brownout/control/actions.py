"""Live control, shared by every way in: the admin API, mitmproxy commands and the file watcher.

Plain functions over the shared state, so each front end stays a thin translation and they all
answer alike (the same names, the same errors, the same JSON).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from brownout import __version__
from brownout.engine.state import Brownout
from brownout.scenario.compile import load_scenario
from brownout.scenario.compile import parse_scenario
from brownout.scenario.library import duplicate
from brownout.scenario.library import same_file
from brownout.scenario.model import Scenario
from brownout.scenario.yaml_lines import ScenarioError
from brownout.units import quote

log = logging.getLogger(__name__)


def describe(state: Brownout, scenario: Scenario) -> dict[str, Any]:
    """One scenario as `GET /api/scenarios` lists it."""
    return {
        "name": scenario.name,
        "active": state.engine.is_active(scenario.name),
        "description": scenario.description,
        "rules": [rule.name for rule in scenario.rules],
        "timeline": [phase.name for phase in scenario.timeline.phases] if scenario.timeline else None,
        "source": scenario.source,
    }


def list_scenarios(state: Brownout) -> list[dict[str, Any]]:
    return [describe(state, s) for _, s in sorted(state.engine.scenarios.items())]


def timeline_status(state: Brownout, name: str) -> dict[str, Any] | None:
    scenario = state.engine.scenarios[name]
    at = state.engine.phase(name)
    if scenario.timeline is None or at is None:
        return None
    return {
        "phase": at.name,
        "index": at.index,
        "phases": [phase.name for phase in scenario.timeline.phases],
        "in_phase_seconds": round(at.elapsed, 3),
        "remaining_seconds": None if at.remaining is None else round(at.remaining, 3),
        "cycle": at.cycle,
        "loop": scenario.timeline.loop,
        "ended": at.ended,
    }


def _totals(counter: Counter, label: str | None = None) -> tuple[int, dict[str, int]]:
    total = 0
    by: dict[str, int] = {}
    for metric in counter.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_total"):
                continue
            total += int(sample.value)
            if label is not None:
                key = sample.labels.get(label, "")
                by[key] = by.get(key, 0) + int(sample.value)
    return total, by


def status(state: Brownout) -> dict[str, Any]:
    """What `GET /api/status` and `brownout ctl status` show."""
    engine = state.engine
    requests, by_code = _totals(state.metrics.requests, "code")
    faults, by_scenario = _totals(state.metrics.faults, "scenario")
    fault_errors, _ = _totals(state.metrics.fault_errors)
    return {
        "version": __version__,
        "uptime_seconds": round(time.time() - state.started, 3),
        "active": [
            {
                "name": name,
                "description": engine.scenarios[name].description,
                "on_for_seconds": round(engine.active_for(name) or 0.0, 3),
                "timeline": timeline_status(state, name),
            }
            for name in engine.active
        ],
        "scenarios_loaded": len(engine.scenarios),
        "counters": {
            "requests": requests,
            "requests_by_code": dict(sorted(by_code.items())),
            "faults_injected": faults,
            "faults_by_scenario": dict(sorted(by_scenario.items())),
            "fault_errors": fault_errors,
        },
        "errors": [{"file": file, "error": error} for file, error in sorted(state.file_errors.items())],
        "fleet": state.fleet() if state.fleet is not None else None,
    }


@dataclass(frozen=True)
class Loaded:
    scenario: Scenario
    replaced: bool
    active: bool


# An upload's `source` labels its scenario in logs and errors: a path or a name, on one line.
LONGEST_SOURCE = 1024


def check_source(source: str) -> None:
    """Refuse a `source` that could forge a log line or hide what it says (CR, LF, NUL, bidi
    controls: nothing `str.isprintable` refuses), or drown a message."""
    if not source or len(source) > LONGEST_SOURCE or not source.isprintable():
        why = f"at most {LONGEST_SOURCE} printable characters, no line breaks or control characters"
        raise ScenarioError.single("upload", f"not a valid source ({why}), got {quote(source)}", key="source")


def parse_text(text: str, source: str = "upload") -> Scenario:
    """Validate a scenario sent as text; raises ScenarioError. Touches no state, so the admin API
    runs it in a thread: a text at the loader's limits takes up to about half a second.

    A `source` that is a file name gives the default scenario name, as a file on disk would (the
    name rule applies to it as to a name written in the scenario).
    """
    check_source(source)
    path = Path(source)
    default_name = path.stem if path.suffix in (".yaml", ".yml", ".json") else None
    return parse_scenario(text, source, default_name=default_name)


def load_text(state: Brownout, text: str, source: str = "upload", activate: bool = False) -> Loaded:
    """Validate and load a scenario sent as text; raises ScenarioError and changes nothing then."""
    return install(state, parse_text(text, source), source, activate)


def install(state: Brownout, scenario: Scenario, source: str, activate: bool = False) -> Loaded:
    """Load a validated scenario (replacing one of its name), switched on when asked."""
    replaced = state.load(scenario)
    state.uploaded(scenario)  # before the switch: a fleet shares the text, then that it is on
    if activate:
        state.activate(scenario.name)
    log.info("brownout: scenario %s %s from %s", scenario.name, "replaced" if replaced else "loaded", source)
    return Loaded(scenario, replaced, state.engine.is_active(scenario.name))


def scenario_from_file(state: Brownout, path: Path) -> Scenario | None:
    """The loaded scenario that came from this file, if any."""
    resolved = path.resolve()
    for scenario in state.engine.scenarios.values():
        try:
            if Path(scenario.source).resolve() == resolved:
                return scenario
        except OSError:
            continue
    return None


def defined_elsewhere(state: Brownout, scenario: Scenario, path: Path) -> str | None:
    """The other file the running scenario of this name came from, when that file still defines it.

    A file whose own edit renamed its scenario away (both edits in one batch) frees the name; a
    file that cannot be read now still holds it (its last good version runs).
    """
    running = state.engine.scenarios.get(scenario.name)
    if running is None or same_file(running.source, str(path)) or not Path(running.source).is_file():
        return None
    try:
        return running.source if load_scenario(running.source).name == scenario.name else None
    except ScenarioError:
        return running.source


def read_file(label: str) -> Scenario | ScenarioError:
    """A scenario file read and validated, or why not; touches no state (the watcher runs it in
    a thread, so neither the disk nor the parse holds up the proxy's loop)."""
    try:
        return load_scenario(label)
    except ScenarioError as exc:
        return exc


def reload_file(
    state: Brownout, path: Path, label: str | None = None, read: Scenario | ScenarioError | None = None
) -> Scenario | None:
    """Apply an edited scenario file; on any problem keep the running version and report why.

    `label` is how the file is named in errors and metrics (the path as the user gave it); `read`
    is the file as `read_file` found it, read now when not given.
    """
    label = label or str(path)
    read = read if read is not None else read_file(label)
    try:
        if isinstance(read, ScenarioError):
            raise read
        scenario = read
        other = defined_elsewhere(state, scenario, path)
        if other is not None:
            raise ScenarioError([duplicate(scenario, other)])
    except ScenarioError as exc:
        state.file_errors[label] = str(exc)
        state.control.reload_errors.labels(file=label).inc()
        state.control.file_ok.labels(file=label).set(0)
        log.error("brownout: %s not applied; the previous version keeps running:\n%s", label, exc)
        return None
    old = scenario_from_file(state, path)
    was_active = old is not None and state.engine.is_active(old.name)
    if old is not None and old.name != scenario.name:
        # The file renamed its scenario: the new name takes the old one's place, on if it was on.
        state.remove(old.name)
    state.load(scenario)
    if was_active:
        state.activate(scenario.name)
    state.file_errors.pop(label, None)
    state.control.file_ok.labels(file=label).set(1)
    log.info("brownout: reloaded %s from %s%s", scenario.name, label, " (on)" if was_active else "")
    return scenario
