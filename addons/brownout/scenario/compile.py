"""Scenario files: load, validate and compile them, with errors that name file, line and key.

A scenario is YAML (or JSON) with `name`, `description`, optional `seed`, ordered `rules` and
an optional `timeline` of phases. Each rule has generic keys (`name`, `match`, `probability`)
and a `fault:` whose `type` picks a registered fault class that validates its own attributes,
in two steps like Toxiproxy's envelope/attributes split.
"""

from __future__ import annotations

import fnmatch
import types
import typing
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import Literal
from typing import get_args
from typing import get_origin

import yaml
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator

from brownout.classify.request import ENDPOINTS
from brownout.classify.request import RequestInfo
from brownout.faults import Fault
from brownout.scenario.timeline import Phase
from brownout.scenario.timeline import Timeline
from brownout.units import parse_duration

Provider = Literal["openai", "anthropic", "gemini", "azure", "openai-compatible"]
Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """One or more problems in a scenario; `str()` gives one `file:line: key: message` per line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, source: str, message: str, key: str = "", line: int | None = None) -> ScenarioError:
        return cls([Problem(source, line, key, message)])


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
        return self.stream is None or info.stream == self.stream


class Rule(_Strict):
    name: str | None = None
    match: Match = Match()
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    fault: dict[str, Any]

    # Filled in by `compile_rule`: the validated fault instance.
    def label(self, fault: Fault) -> str:
        return self.name or fault.type_name


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class PhaseDoc(_Strict):
    """One phase of a timeline: how long it lasts, which rules are on, probability overrides."""

    name: str = Field(pattern=NAME_PATTERN)
    duration: PositiveDuration | None = None
    rules: list[str] | None = None  # absent: every rule; []: none (a healthy phase)
    probability: dict[str, Probability] = {}

    _lists = field_validator("rules", mode="before")(_one_or_many)


class TimelineDoc(_Strict):
    loop: bool = False
    phases: list[PhaseDoc] = Field(min_length=1)


class ScenarioDoc(_Strict):
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    description: str = ""
    seed: int | None = None
    # Rules are validated one by one below, so one broken rule does not hide another's problems.
    rules: list[dict[str, Any]] = Field(min_length=1)
    timeline: TimelineDoc | None = None


@dataclass(frozen=True)
class CompiledRule:
    name: str
    match: Match
    probability: float
    fault: Fault


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


# ---------------------------------------------------------------- YAML with line numbers


def _parse_yaml(text: str, source: str) -> tuple[object, dict[Key, int]]:
    """The document and, for every key path, the line (1-based) where that key or item stands."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(source, None, "", "the file is empty; a scenario needs `rules:`")])
        lines: dict[Key, int] = {(): node.start_mark.line + 1}
        problems: list[Problem] = []
        _record_lines(node, (), lines, problems, source)
        if problems:
            raise ScenarioError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError([Problem(source, line, "", f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(source, None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return data, lines


def _record_lines(node: yaml.Node, key: Key, lines: dict[Key, int], problems: list[Problem], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value)
            path = (*key, name)
            if name in seen:
                problems.append(Problem(source, key_node.start_mark.line + 1, _dotted(path), "duplicate key"))
            seen.add(name)
            lines[path] = key_node.start_mark.line + 1
            _record_lines(value_node, path, lines, problems, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*key, index)] = item.start_mark.line + 1
            _record_lines(item, (*key, index), lines, problems, source)


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_for(lines: dict[Key, int], path: Key) -> int | None:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


# ---------------------------------------------------------------- validation


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that owns the last key of `loc`, to list its allowed keys."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in get_args(annotation):
            if arg is not type(None):
                return _unwrap(arg)
    return annotation


def _problems(
    exc: ValidationError, model: type[BaseModel], prefix: Key, lines: dict[Key, int], source: str
) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = (*prefix, *loc)
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            allowed = ", ".join(owner.model_fields) if owner else "see the README"
            message = f"unknown key; allowed: {allowed}"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "value_error":
            message = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        else:
            message = err["msg"]
            if "input" in err and not isinstance(err["input"], dict | list):
                message += f", got {err['input']!r}"
        problems.append(Problem(source, _line_for(lines, path), _dotted(path), message))
    return problems


def _compile_fault(raw: object, prefix: Key, lines: dict[Key, int], source: str) -> Fault | list[Problem]:
    key = _dotted(prefix)
    if not isinstance(raw, dict):
        return [
            Problem(source, _line_for(lines, prefix), key, "expected a mapping with `type:` and the fault's attributes")
        ]
    attrs = dict(raw)
    type_name = attrs.pop("type", None)
    allowed = ", ".join(sorted(Fault.registry))
    if type_name is None:
        return [
            Problem(
                source, _line_for(lines, prefix), key + ".type", f"required key is missing; allowed types: {allowed}"
            )
        ]
    cls = Fault.registry.get(str(type_name))
    if cls is None:
        return [
            Problem(
                source,
                _line_for(lines, (*prefix, "type")),
                key + ".type",
                f"unknown fault type {type_name!r}; allowed: {allowed}",
            )
        ]
    try:
        return cls.model_validate(attrs)
    except ValidationError as exc:
        problems = _problems(exc, cls, prefix, lines, source)
        for problem in problems:
            if problem.message.startswith("unknown key"):
                keys = ", ".join(cls.model_fields) or "none"
                object.__setattr__(problem, "message", f"unknown key for fault {type_name!r}; allowed: type, {keys}")
        return problems


def parse_scenario(text: str, source: str = "<scenario>", default_name: str | None = None) -> Scenario:
    """Validate and compile one scenario; raises ScenarioError listing every problem found."""
    data, lines = _parse_yaml(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                Problem(
                    source,
                    1,
                    "",
                    "a scenario is a mapping with `rules:` (and optional name, description, seed, timeline)",
                )
            ]
        )
    try:
        doc = ScenarioDoc.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_problems(exc, ScenarioDoc, (), lines, source)) from None
    name = doc.name or default_name
    if not name:
        raise ScenarioError([Problem(source, 1, "name", "required key is missing (no file name to default to)")])
    problems: list[Problem] = []
    rules: list[CompiledRule] = []
    for index, raw in enumerate(doc.rules):
        prefix: Key = ("rules", index)
        try:
            rule = Rule.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_problems(exc, Rule, prefix, lines, source))
            rule = None
        if "fault" not in raw:
            continue
        fault = _compile_fault(raw["fault"], (*prefix, "fault"), lines, source)
        if isinstance(fault, list):
            problems.extend(fault)
        elif rule is not None:
            rules.append(CompiledRule(rule.label(fault), rule.match, rule.probability, fault))
    timeline: Timeline | None = None
    phase_rules: tuple[tuple[CompiledRule, ...], ...] = ()
    if doc.timeline is not None and not problems:
        timeline, phase_rules = _compile_timeline(doc.timeline, tuple(rules), lines, source, problems)
    if problems:
        raise ScenarioError(problems)
    return Scenario(name, doc.description, doc.seed, tuple(rules), source, text, timeline, phase_rules)


def _compile_timeline(
    doc: TimelineDoc, rules: tuple[CompiledRule, ...], lines: dict[Key, int], source: str, problems: list[Problem]
) -> tuple[Timeline, tuple[tuple[CompiledRule, ...], ...]]:
    """Check that every phase refers to rules that exist, then fix each phase's rules."""
    names = list(dict.fromkeys(rule.name for rule in rules))
    known = ", ".join(names)

    def problem(path: Key, message: str) -> None:
        problems.append(Problem(source, _line_for(lines, path), _dotted(path), message))

    phases: list[Phase] = []
    for index, phase in enumerate(doc.phases):
        at: Key = ("timeline", "phases", index)
        last = index == len(doc.phases) - 1
        if phase.duration is None and (doc.loop or not last):
            why = "with `loop: true` every phase needs one" if doc.loop else "every phase but the last needs one"
            problem((*at, "duration"), f"required key is missing ({why}), e.g. 30s or 2m")
        for position, rule in enumerate(phase.rules or ()):
            if rule not in names:
                problem((*at, "rules", position), f"unknown rule {rule!r}; this scenario's rules: {known}")
        on = set(names) if phase.rules is None else set(phase.rules)
        for rule in phase.probability:
            if rule not in names:
                problem((*at, "probability", rule), f"unknown rule {rule!r}; this scenario's rules: {known}")
            elif rule not in on:
                problem(
                    (*at, "probability", rule),
                    f"rule {rule!r} is not on in this phase (on: {', '.join(sorted(on)) or 'none'})",
                )
        phases.append(
            Phase(
                phase.name,
                phase.duration,
                None if phase.rules is None else frozenset(phase.rules),
                dict(phase.probability),
            )
        )
    per_phase = tuple(
        tuple(
            CompiledRule(rule.name, rule.match, phase.probability.get(rule.name, rule.probability), rule.fault)
            for rule in rules
            if phase.rule_is_on(rule.name)
        )
        for phase in phases
    )
    return Timeline(tuple(phases), doc.loop), per_phase


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([Problem(str(path), None, "", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise ScenarioError([Problem(str(path), None, "", "not UTF-8 text")]) from None
    return parse_scenario(text, str(path), default_name=path.stem)
