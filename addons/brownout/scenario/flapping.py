"""Flapping: a fault that switches on and off with a period and a duty cycle.

Pure: whether it is on is a function of the seconds since the scenario was switched on. A rule's
`flap:` gates that rule alone; a timeline's `flap:` becomes a looping timeline of two phases, `on`
and `off`, so the phase metric, the log and recovery timing see every change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator

from brownout.faults.bounds import PhaseDuration

ON = "on"
OFF = "off"


class Flap(BaseModel):
    """On for `duty` of every `period`, off for the rest, starting `on` (default) or `off`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: PhaseDuration
    duty: float = Field(gt=0.0, lt=1.0, allow_inf_nan=False)
    start: Literal["on", "off"] = "on"

    @field_validator("start", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: object) -> object:
        # YAML 1.1 reads a bare `on` / `off` as true / false.
        return {True: ON, False: OFF}.get(value, value) if isinstance(value, bool) else value

    @property
    def on_for(self) -> float:
        return self.period * self.duty

    @property
    def off_for(self) -> float:
        return self.period - self.on_for

    def is_on(self, elapsed: float) -> bool:
        at = max(0.0, elapsed) % self.period
        if self.start == ON:
            return at < self.on_for
        return at >= self.off_for

    def phases(self) -> list[tuple[str, float]]:
        """The timeline's two phases in order: (name, seconds)."""
        on, off = (ON, self.on_for), (OFF, self.off_for)
        return [on, off] if self.start == ON else [off, on]


class TimelineFlap(Flap):
    """A timeline's `flap:`: the rules it switches (absent: every rule)."""

    rules: list[str] | None = None
