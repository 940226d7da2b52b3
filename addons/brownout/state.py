"""What brownout's addons share in one process: routes, the engine, the metrics, the library."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from brownout.control_metrics import ControlMetrics
from brownout.engine import Engine
from brownout.metrics import Metrics
from brownout.routing import RouteTable
from brownout.scenario import Scenario
from brownout.scenario import ScenarioError
from brownout.scenario import load_scenario

log = logging.getLogger(__name__)

# The reverse-mode target of brownout's own listener. Every request there is routed by its path
# prefix; one that matches no prefix is answered 404 and never sent here.
UNROUTED = "http://unrouted.brownout.invalid:9"


SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")  # JSON is YAML too; the admin API takes either


def library_dir() -> Path:
    """The built-in scenario library: `scenarios/` of a checkout, or the copy inside a wheel."""
    override = os.environ.get("BROWNOUT_LIBRARY")
    if override:
        return Path(override)
    packaged = Path(__file__).parent / "scenarios"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "scenarios"


def library_files(directory: Path | None = None) -> list[Path]:
    directory = directory or library_dir()
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if path.suffix in SCENARIO_SUFFIXES)


def resolve_scenario_ref(ref: str, directory: Path | None = None) -> Path:
    """A `--scenario` value: a file path, or the name of a scenario in the library."""
    path = Path(ref)
    if path.suffix in SCENARIO_SUFFIXES or path.exists():
        return path
    for candidate in library_files(directory):
        if candidate.stem == ref:
            return candidate
    names = ", ".join(p.stem for p in library_files(directory)) or "none"
    raise ScenarioError.single(ref, f"no such file, and no library scenario of that name; library: {names}")


def load_all(refs: Iterable[str], directory: Path | None = None) -> list[Scenario]:
    """Load every reference, collecting all problems before failing (nothing half-loaded)."""
    loaded: list[Scenario] = []
    problems = []
    for ref in refs:
        try:
            loaded.append(load_scenario(resolve_scenario_ref(ref, directory)))
        except ScenarioError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScenarioError(problems)
    return loaded


@dataclass(frozen=True, slots=True)
class ScenarioSwitch:
    """A scenario's faults were switched on or off: the whole scenario, or (off, with `phase`) one
    phase of its timeline ending while the next begins."""

    scenario: str
    active: bool
    phase: str = ""  # the timeline phase that ended; "" for the scenario itself
    at: float | None = None  # when it happened (Unix time); None: now


@dataclass
class Brownout:
    """Shared state; each addon holds a reference and keeps its hooks thin."""

    engine: Engine = field(default_factory=Engine)
    metrics: Metrics = field(default_factory=Metrics)
    routes: RouteTable = field(default_factory=RouteTable)
    # Called on every switch, so addons learn of it at once (the observer times recoveries from it).
    listeners: list[Callable[[ScenarioSwitch], None]] = field(default_factory=list)
    # Scenario file -> why its latest edit was rejected (the previous version keeps running).
    file_errors: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    control: ControlMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.control = ControlMetrics(self.metrics.registry, self.engine)

    def sync_gauges(self) -> None:
        self.metrics.set_scenarios(self.engine.scenarios, self.engine.active)

    def notify(self, switch: ScenarioSwitch) -> None:
        for listener in list(self.listeners):
            try:
                listener(switch)
            except Exception:
                log.exception("brownout: a listener failed on %s", switch)

    def activate(self, name: str) -> bool:
        changed = self.engine.activate(name)
        self.sync_gauges()
        if changed:
            self.control.switches.labels(scenario=name, action="on").inc()
            log.info("brownout: scenario %s on", name)
            self.notify(ScenarioSwitch(name, active=True))
        return changed

    def deactivate(self, name: str) -> bool:
        changed = self.engine.deactivate(name)
        self.sync_gauges()
        if changed:
            self.control.switches.labels(scenario=name, action="off").inc()
            log.info("brownout: scenario %s off", name)
            self.notify(ScenarioSwitch(name, active=False))
        return changed

    def clear(self) -> list[str]:
        was = self.engine.clear()
        self.sync_gauges()
        for name in was:
            self.control.switches.labels(scenario=name, action="off").inc()
            self.notify(ScenarioSwitch(name, active=False))
        if was:
            log.info("brownout: scenarios off: %s", ", ".join(was))
        return was

    def load(self, scenario: Scenario) -> bool:
        """Add or replace a scenario (an active one stays on); True when it replaced one."""
        replaced = self.engine.load(scenario)
        self.sync_gauges()
        return replaced

    def remove(self, name: str) -> None:
        if self.engine.is_active(name):
            self.deactivate(name)
        self.engine.remove(name)
        with contextlib.suppress(KeyError):  # never exported yet
            self.metrics.scenario_active.remove(name)
        self.sync_gauges()
