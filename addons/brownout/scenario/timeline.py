"""A scenario's timeline: phases that follow each other once the scenario is switched on.

Pure: the phase in force is a function of the seconds since the switch, so it is tested with
plain numbers and never needs a timer. Each phase names the rules that are on during it (all of
them when it names none) and may override their probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    # Seconds; None only for the last phase of a timeline that does not loop: it holds until
    # the scenario is switched off.
    duration: float | None
    # Names of the rules on during this phase; None: every rule of the scenario.
    rules: frozenset[str] | None = None
    # Rule name -> probability used during this phase instead of the rule's own.
    probability: Mapping[str, float] = field(default_factory=dict)

    def rule_is_on(self, rule: str) -> bool:
        return self.rules is None or rule in self.rules


@dataclass(frozen=True, slots=True)
class PhaseAt:
    """Where a running timeline stands."""

    index: int | None  # None once a timeline that does not loop has run out
    name: str | None
    elapsed: float  # seconds into this phase (into the timeline's end, once it has ended)
    remaining: float | None  # seconds left in this phase; None while a last phase holds or once ended
    cycle: int  # 0 on the first pass; counts the passes of a looping timeline

    @property
    def ended(self) -> bool:
        return self.index is None


@dataclass(frozen=True, slots=True)
class Timeline:
    phases: tuple[Phase, ...]
    loop: bool = False

    @property
    def length(self) -> float | None:
        """Seconds one pass takes; None when the last phase holds forever."""
        total = 0.0
        for phase in self.phases:
            if phase.duration is None:
                return None
            total += phase.duration
        return total

    def at(self, elapsed: float) -> PhaseAt:
        """The phase in force `elapsed` seconds after the scenario was switched on."""
        elapsed = max(0.0, elapsed)
        cycle = 0
        length = self.length
        if self.loop and length:
            passes, elapsed = divmod(elapsed, length)
            cycle = int(passes)
        start = 0.0
        for index, phase in enumerate(self.phases):
            if phase.duration is None:
                return PhaseAt(index, phase.name, elapsed - start, None, cycle)
            end = start + phase.duration
            if elapsed < end:
                return PhaseAt(index, phase.name, elapsed - start, end - elapsed, cycle)
            start = end
        return PhaseAt(None, None, elapsed - start, None, cycle)
