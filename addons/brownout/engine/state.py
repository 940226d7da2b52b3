"""What brownout's addons share in one process: routes, the engine, the metrics, and switching."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from brownout.classify.routing import RouteTable
from brownout.classify.upstream_providers import ProviderMap
from brownout.engine.engine import Engine
from brownout.engine.flows import FlowTable
from brownout.faults.overload.fault import OverloadFault
from brownout.faults.shared import Shared
from brownout.faults.shared import SharedBuckets
from brownout.faults.shared import SharedLoad
from brownout.metrics.control import ControlMetrics
from brownout.metrics.overload import OverloadMetrics
from brownout.metrics.overload import OverloadRule
from brownout.metrics.proxy import Metrics
from brownout.observe.record import RunRecord
from brownout.scenario.model import Scenario

log = logging.getLogger(__name__)


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
    providers: ProviderMap = field(default_factory=ProviderMap)  # which provider an upstream is
    flows: FlowTable = field(default_factory=FlowTable)
    # What the clients did, kept for reports (`/api/report`, `brownout report`, the pytest plugin).
    record: RunRecord = field(default_factory=RunRecord)
    # Called on every switch, so addons learn of it at once (the observer times recoveries from it).
    listeners: list[Callable[[ScenarioSwitch], None]] = field(default_factory=list)
    # Called with each scenario loaded at run time through a control path (the API's upload, the
    # `brownout.load` command): a fleet shares these with the other replicas.
    upload_listeners: list[Callable[[Scenario], None]] = field(default_factory=list)
    # Scenario file -> why its latest edit was rejected (the previous version keeps running).
    file_errors: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    # How this replica stands in a fleet (`--redis`), for the status; None: it runs alone.
    fleet: Callable[[], dict[str, Any]] | None = None
    # Set when a graceful stop begins: /healthz answers 503 so a load balancer stops sending here.
    draining: bool = False
    # A fleet's rate-limit buckets and offered load (`brownout.fleet`); None: this replica alone.
    shared_buckets: SharedBuckets | None = None
    shared_load: SharedLoad | None = None
    control: ControlMetrics = field(init=False)
    overload: OverloadMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.control = ControlMetrics(self.metrics.registry, self.timeline_phases)
        self.overload = OverloadMetrics(self.metrics.registry, self.overload_rules, self.metrics.models)

    def overload_rules(self) -> Iterator[OverloadRule]:
        """The overload rules of the active scenarios in force now, with their phase's capacity share."""
        for name in self.engine.active:
            for rule in self.engine.rules_of(self.engine.scenarios[name]):
                if isinstance(rule.fault, OverloadFault):
                    yield OverloadRule(name, rule.name, rule.fault, rule.capacity)

    def shared_for(self, place: str) -> Shared | None:
        """What a fault run of the rule at `place` shares with the fleet (None: nothing)."""
        if self.shared_buckets is None and self.shared_load is None:
            return None
        return Shared(place, self.shared_buckets, self.shared_load)

    def timeline_phases(self) -> Iterator[tuple[str, list[str], str | None]]:
        """Each loaded scenario with a timeline: its phases, and the one it is in now."""
        for name, scenario in sorted(self.engine.scenarios.items()):
            if scenario.timeline is not None:
                at = self.engine.phase(name)
                yield name, [phase.name for phase in scenario.timeline.phases], at.name if at is not None else None

    def sync_gauges(self) -> None:
        self.metrics.set_scenarios(self.engine.scenarios, self.engine.active)

    def notify(self, switch: ScenarioSwitch) -> None:
        for listener in list(self.listeners):
            try:
                listener(switch)
            except Exception:
                log.exception("brownout: a listener failed on %s", switch)

    def uploaded(self, scenario: Scenario) -> None:
        for listener in list(self.upload_listeners):
            try:
                listener(scenario)
            except Exception:
                log.exception("brownout: an upload listener failed on %s", scenario.name)

    def activate(self, name: str, elapsed: float = 0.0) -> bool:
        """Switch a scenario on; `elapsed`: how long its timeline has already run (see Engine.activate)."""
        changed = self.engine.activate(name, elapsed)
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
