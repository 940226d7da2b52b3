"""Choose the fault for a request: active scenarios, rules in order, match, flap, counts,
probability draw.

Pure: a RequestInfo in, a Decision (or None) out. Each scenario owns its random generator,
seeded when the scenario sets `seed:`, so its draws repeat run to run. A scenario's timeline
(and a rule's `flap:`) runs on the engine's clock (injected, so tests set the time) from the
moment it is switched on. Rules with `first`, `times` or `every` keep their counts here
(`brownout.engine.sequences`), from the moment the scenario is switched on; with `shared_counts`
set (a fleet), `every` and `times` count across replicas, keyed by the scenario's `epochs` entry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from brownout.classify.request import RequestInfo
from brownout.engine import sequences
from brownout.engine.sequences import Arrival
from brownout.engine.sequences import RuleCounts
from brownout.engine.sequences import SharedCounts
from brownout.engine.sequences import SharedRule
from brownout.faults import Fault
from brownout.scenario.model import CompiledRule
from brownout.scenario.model import Scenario
from brownout.scenario.timeline import PhaseAt
from brownout.units import quote


@dataclass(frozen=True, slots=True)
class Decision:
    scenario: str
    rule: str
    fault: Fault
    rng: random.Random
    capacity: float = 1.0  # the share of its capacity a load-aware fault has now (a phase's `capacity`)
    place: str = ""  # the rule across a fleet: its scenario and index (what its shared state is kept under)


class UnknownScenario(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none loaded"
        # Quoted short: the name may be anything a URL or a command carried.
        return f"unknown scenario {quote(self.name)}; loaded: {known}"


class Engine:
    """The loaded scenarios, which of them are on, and the choice of a fault per request."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.scenarios: dict[str, Scenario] = {}
        self.clock = clock
        self._active: list[str] = []  # activation order is the order rules are tried in
        self._rngs: dict[str, random.Random] = {}
        self._since: dict[str, float] = {}  # when each active scenario was switched on (clock time)
        self._counts: dict[tuple[str, int], RuleCounts] = {}  # (scenario, rule index) -> its counts
        # How long after a failed attempt the same request still counts as its retry (`first:`); the
        # observer's retry window, set with it.
        self.retry_window = 30.0
        # A fleet's `every`/`times` counts (None: this process alone), and what each scenario's
        # shared counts are kept under: its activation, so switching it on starts them at zero.
        # The activation's stamp is local; a fleet that shares its switches replaces it, as the
        # switch is made, with the start it will share (the counts' names then never change).
        self.shared_counts: SharedCounts | None = None
        self.epochs: dict[str, str] = {}

    # -- library

    def load(self, scenario: Scenario) -> bool:
        """Add or replace a scenario; returns True when it replaced one.

        An active one stays on, and its timeline keeps its clock: an edit takes effect in the
        phase the rehearsal has reached rather than starting it over.
        """
        replaced = scenario.name in self.scenarios
        self.scenarios[scenario.name] = scenario
        self._rngs[scenario.name] = random.Random(scenario.seed)
        self._forget_counts(scenario.name)
        return replaced

    def remove(self, name: str) -> None:
        self.deactivate(name)
        self.scenarios.pop(name, None)
        self._rngs.pop(name, None)

    # -- switching

    @property
    def active(self) -> list[str]:
        return list(self._active)

    def is_active(self, name: str) -> bool:
        return name in self._active

    def activate(self, name: str, elapsed: float = 0.0) -> bool:
        """Turn a scenario on; False when it already was. Seeded draws restart from the seed.

        `elapsed`: seconds its timeline has already run (a fleet's scenario switched on earlier
        by another replica), so its phases are where the fleet's are.
        """
        if name not in self.scenarios:
            raise UnknownScenario(name, sorted(self.scenarios))
        if name in self._active:
            return False
        self._rngs[name] = random.Random(self.scenarios[name].seed)
        self._forget_counts(name)
        self._active.append(name)
        self._since[name] = self.clock() - max(0.0, elapsed)
        self.epochs[name] = f"{time.time():.6f}"
        return True

    def align(self, name: str, elapsed: float) -> None:
        """Set how long an active scenario has been on (its timeline follows the fleet's start)."""
        if name in self._since:
            self._since[name] = self.clock() - max(0.0, elapsed)

    def deactivate(self, name: str) -> bool:
        if name not in self.scenarios:
            raise UnknownScenario(name, sorted(self.scenarios))
        if name not in self._active:
            return False
        self._active.remove(name)
        self._since.pop(name, None)
        return True

    def clear(self) -> list[str]:
        was, self._active = self._active, []
        self._since.clear()
        return was

    def active_for(self, name: str) -> float | None:
        """Seconds since a scenario was switched on; None while it is off."""
        since = self._since.get(name)
        return None if since is None else max(0.0, self.clock() - since)

    def phase(self, name: str) -> PhaseAt | None:
        """Where an active scenario's timeline stands; None when it is off or has no timeline."""
        scenario = self.scenarios.get(name)
        elapsed = self.active_for(name)
        if scenario is None or scenario.timeline is None or elapsed is None:
            return None
        return scenario.timeline.at(elapsed)

    # -- choosing

    def choose(self, info: RequestInfo, only: str | None = None, arrival: Arrival | None = None) -> Decision | None:
        """`decide` in a plain call, for a process whose counts are its own: its coroutine then
        never waits, so it runs to its end at once (no event loop needed by pure callers)."""
        step = self.decide(info, only, arrival)
        try:
            step.send(None)
        except StopIteration as done:
            return done.value
        step.close()
        raise RuntimeError("the counts are shared across a fleet: await Engine.decide")

    async def decide(
        self, info: RequestInfo, only: str | None = None, arrival: Arrival | None = None
    ) -> Decision | None:
        """The first rule whose match holds, whose flap is on, whose counts allow it and whose
        probability draw succeeds.

        `only` names one scenario to consult alone, active or not (a per-request override).
        `arrival` identifies the attempt for the rules that count (none given: every request
        looks the same to them); the caller reports its end with `ended`.
        """
        # A copy: while a shared count is awaited, the fleet may switch a scenario off or remove it.
        names = [only] if only is not None else list(self._active)
        arrival = arrival if arrival is not None else Arrival()
        for name in names:
            scenario = self.scenarios.get(name)
            rng = self._rngs.get(name)
            if scenario is None or rng is None:
                continue
            for rule in self.rules_of(scenario):
                if not rule.match.holds(info):
                    continue
                if rule.flap is not None and not _flap_on(rule, self.active_for(name)):
                    continue
                admission = None
                if rule.counting is not None:
                    counts = self._counts.setdefault((name, rule.index), RuleCounts())
                    admission = await sequences.admit(
                        rule.counting,
                        counts,
                        info,
                        arrival,
                        self.clock(),
                        self.retry_window,
                        self._shared_rule(name, rule.index),
                    )
                    if admission is None:
                        continue
                if _draw(rule, rng):
                    if admission is not None and not await admission.book():
                        continue
                    return Decision(name, rule.name, rule.fault, rng, rule.capacity, f"{name}:{rule.index}")
        return None

    def _shared_rule(self, name: str, index: int) -> SharedRule | None:
        if self.shared_counts is None:
            return None
        # A scenario consulted while off (an override) counts under no activation.
        return SharedRule(self.shared_counts, f"{name}:{self.epochs.get(name, 'off')}:{index}")

    async def carry_over(self) -> None:
        """Carry what this replica's `every`/`times` rules counted alone into the fleet's counts
        (the fleet's Redis is back): a firing made alone is then one of the fleet's."""
        for (name, index), counts in list(self._counts.items()):
            shared = self._shared_rule(name, index)
            if shared is None:
                return
            await sequences.carry_over(counts, shared)

    def ended(self, arrival: Arrival, failed: bool, retry_after: float | None = None) -> None:
        """An attempt `choose` saw has ended, in failure or not (the `first:` rules' retries); a
        failure's Retry-After lengthens the time its retry may take."""
        sequences.ended(arrival, self.clock(), failed, retry_after)

    def _forget_counts(self, name: str) -> None:
        for key in [key for key in self._counts if key[0] == name]:
            del self._counts[key]

    def rules_of(self, scenario: Scenario) -> tuple[CompiledRule, ...]:
        """The rules in force for a scenario now: its timeline's current phase narrows them.

        A scenario consulted while off (a per-request override) has no running timeline, so
        all its rules apply as written.
        """
        if scenario.timeline is None:
            return scenario.rules
        at = self.phase(scenario.name)
        if at is None:
            return scenario.rules
        return () if at.index is None else scenario.phase_rules[at.index]


def _flap_on(rule: CompiledRule, elapsed: float | None) -> bool:
    # A scenario consulted while off has no clock, so its flapping rules apply as written.
    return elapsed is None or rule.flap is None or rule.flap.is_on(elapsed)


def _draw(rule: CompiledRule, rng: random.Random) -> bool:
    # A certain rule draws nothing, so adding one does not shift a seeded sequence.
    return rule.probability >= 1.0 or rng.random() < rule.probability
