"""Choose the fault for a request: active scenarios, rules in order, match, probability draw.

Pure: a RequestInfo in, a Decision (or None) out. Each scenario owns its random generator,
seeded when the scenario sets `seed:`, so its draws repeat run to run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from brownout.classify import RequestInfo
from brownout.faults import Fault
from brownout.scenario import CompiledRule
from brownout.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Decision:
    scenario: str
    rule: str
    fault: Fault
    rng: random.Random


class UnknownScenario(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none loaded"
        return f"unknown scenario {self.name!r}; loaded: {known}"


class Engine:
    """The loaded scenarios, which of them are on, and the choice of a fault per request."""

    def __init__(self) -> None:
        self.scenarios: dict[str, Scenario] = {}
        self._active: list[str] = []  # activation order is the order rules are tried in
        self._rngs: dict[str, random.Random] = {}

    # -- library

    def load(self, scenario: Scenario) -> bool:
        """Add or replace a scenario; returns True when it replaced one. An active one stays on."""
        replaced = scenario.name in self.scenarios
        self.scenarios[scenario.name] = scenario
        self._rngs[scenario.name] = random.Random(scenario.seed)
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

    def activate(self, name: str) -> bool:
        """Turn a scenario on; False when it already was. Seeded draws restart from the seed."""
        if name not in self.scenarios:
            raise UnknownScenario(name, sorted(self.scenarios))
        if name in self._active:
            return False
        self._rngs[name] = random.Random(self.scenarios[name].seed)
        self._active.append(name)
        return True

    def deactivate(self, name: str) -> bool:
        if name not in self.scenarios:
            raise UnknownScenario(name, sorted(self.scenarios))
        if name not in self._active:
            return False
        self._active.remove(name)
        return True

    def clear(self) -> list[str]:
        was, self._active = self._active, []
        return was

    # -- choosing

    def choose(self, info: RequestInfo, only: str | None = None) -> Decision | None:
        """The first rule whose match holds and whose probability draw succeeds.

        `only` names one scenario to consult alone, active or not (a per-request override).
        """
        names = [only] if only is not None else self._active
        for name in names:
            scenario = self.scenarios[name]
            rng = self._rngs[name]
            for rule in self.rules_of(scenario):
                if rule.match.holds(info) and _draw(rule, rng):
                    return Decision(name, rule.name, rule.fault, rng)
        return None

    def rules_of(self, scenario: Scenario) -> tuple[CompiledRule, ...]:
        """The rules in force for a scenario now (a timeline may narrow them)."""
        return scenario.rules


def _draw(rule: CompiledRule, rng: random.Random) -> bool:
    # A certain rule draws nothing, so adding one does not shift a seeded sequence.
    return rule.probability >= 1.0 or rng.random() < rule.probability
