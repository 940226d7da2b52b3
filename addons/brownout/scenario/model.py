"""What a scenario is: the documents as written (validated with pydantic, unknown keys refused)
and the compiled scenario the engine runs (rules in order, each with its fault instance)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator
from pydantic import model_validator

from brownout.classify.request import ENDPOINTS
from brownout.classify.request import RequestInfo
from brownout.faults import Fault
from brownout.faults.bounds import Fraction
from brownout.faults.bounds import PhaseDuration
from brownout.faults.bounds import PositiveCount
from brownout.scenario.counting import Counting
from brownout.scenario.counting import Scope
from brownout.scenario.flapping import Flap
from brownout.scenario.flapping import TimelineFlap
from brownout.scenario.names import check_name
from brownout.scenario.timeline import Timeline

Provider = Literal["openai", "anthropic", "gemini", "azure", "openai-compatible"]
Key = tuple[str | int, ...]
# Scenario, rule and phase names: one rule (`scenario.names`), since each shows in logs and labels.
Name = Annotated[str, AfterValidator(check_name)]
# A scenario's seed: any signed 64-bit integer.
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str | bool) else value


class Match(_Strict):
    """Which requests a rule applies to; every key given must hold."""

    provider: list[Provider] | None = None
    endpoint: list[str] | None = None
    model: list[str] | None = None  # globs
    stream: bool | None = None
    # The request offered function tools; it asked for JSON (`classify.asks`).
    tools: bool | None = None
    structured_output: bool | None = None

    _lists = field_validator("provider", "endpoint", "model", mode="before")(_one_or_many)

    @field_validator("endpoint")
    @classmethod
    def _known_endpoints(cls, values: list[str] | None) -> list[str] | None:
        for value in values or ():
            if value not in ENDPOINTS:
                raise ValueError(f"unknown endpoint {value!r}; allowed: {', '.join(ENDPOINTS)}")
        return values

    def holds(self, info: RequestInfo) -> bool:
        if self.provider is not None and info.provider not in self.provider:
            return False
        if self.endpoint is not None and info.endpoint not in self.endpoint:
            return False
        if self.model is not None and not any(fnmatch.fnmatchcase(info.model, g) for g in self.model):
            return False
        if self.tools is not None and info.tools != self.tools:
            return False
        if self.structured_output is not None and info.structured_output != self.structured_output:
            return False
        return self.stream is None or info.stream == self.stream


class Rule(_Strict):
    name: Name | None = None
    match: Match = Match()
    probability: Fraction = 1.0
    # Rules that count (brownout.scenario.counting) and rules that flap (brownout.scenario.flapping).
    first: PositiveCount | None = None
    times: PositiveCount | None = None
    every: PositiveCount | None = None
    scope: Scope | None = None
    flap: Flap | None = None
    fault: dict[str, Any]

    @model_validator(mode="after")
    def _scope_has_a_count(self) -> Rule:
        if self.scope is not None and self.counting is None:
            raise ValueError("`scope` says whose count it is, so it needs `first`, `times` or `every`")
        return self

    @property
    def counting(self) -> Counting | None:
        if self.first is None and self.times is None and self.every is None:
            return None
        return Counting(self.first, self.times, self.every, self.scope)

    # Filled in by `compile_rule`: the validated fault instance.
    def label(self, fault: Fault) -> str:
        return self.name or fault.type_name


class PhaseDoc(_Strict):
    """One phase of a timeline: how long it lasts, which rules are on, probability overrides."""

    name: Name
    duration: PhaseDuration | None = None
    rules: list[str] | None = None  # absent: every rule; []: none (a healthy phase)
    probability: dict[str, Fraction] = {}
    # Rule name -> the share of its capacity an `overload` rule has during this phase.
    capacity: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = {}

    _lists = field_validator("rules", mode="before")(_one_or_many)


class TimelineDoc(_Strict):
    loop: bool = False
    phases: list[PhaseDoc] | None = Field(default=None, min_length=1)
    flap: TimelineFlap | None = None  # a looping timeline of two phases, `on` and `off`

    @model_validator(mode="after")
    def _phases_or_flap(self) -> TimelineDoc:
        if (self.phases is None) == (self.flap is None):
            raise ValueError("a timeline needs `phases` (a list of phases) or `flap` (period and duty), not both")
        if self.flap is not None and "loop" in self.model_fields_set and not self.loop:
            raise ValueError("a flap always loops; drop `loop: false`")
        return self


class ScenarioDoc(_Strict):
    name: Name | None = None
    description: str = ""
    # The incident or failure mode the scenario reproduces, and where it is described.
    reproduces: str = ""
    seed: Seed | None = None
    # Rules are validated one by one below, so one broken rule does not hide another's problems.
    rules: list[dict[str, Any]] = Field(min_length=1)
    timeline: TimelineDoc | None = None


@dataclass(frozen=True)
class CompiledRule:
    name: str
    match: Match
    probability: float
    fault: Fault
    index: int = 0  # its place among the scenario's rules: what its counts are kept under
    counting: Counting | None = None
    flap: Flap | None = None
    capacity: float = 1.0  # the share of its capacity a load-aware fault has (a phase's `capacity`)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int | None
    rules: tuple[CompiledRule, ...]
    source: str
    text: str
    timeline: Timeline | None = None
    # The rules in force during each phase of the timeline, probability overrides applied.
    phase_rules: tuple[tuple[CompiledRule, ...], ...] = ()
    reproduces: str = ""
    # The line of its `name:` key (1 when the name is its file's), for problems about the name.
    name_line: int = 1
