"""Scenario files: load, validate and compile them, with errors that name file, line and key.

A scenario is YAML (or JSON) with `name`, `description`, optional `seed`, ordered `rules` and
an optional `timeline` of phases. Each rule has generic keys (`name`, `match`, `probability`)
and a `fault:` whose `type` picks a registered fault class that validates its own attributes,
in two steps like Toxiproxy's envelope/attributes split.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import get_args
from typing import get_origin

from pydantic import BaseModel
from pydantic import ValidationError

from brownout.faults import Fault
from brownout.faults.overload.fault import OverloadFault
from brownout.scenario.flapping import ON
from brownout.scenario.model import CompiledRule
from brownout.scenario.model import PhaseDoc
from brownout.scenario.model import Rule
from brownout.scenario.model import Scenario
from brownout.scenario.model import ScenarioDoc
from brownout.scenario.model import TimelineDoc
from brownout.scenario.names import check_name
from brownout.scenario.timeline import Phase
from brownout.scenario.timeline import Timeline
from brownout.scenario.yaml_lines import LARGEST_TEXT
from brownout.scenario.yaml_lines import Key
from brownout.scenario.yaml_lines import Problem
from brownout.scenario.yaml_lines import ScenarioError
from brownout.scenario.yaml_lines import dotted
from brownout.scenario.yaml_lines import line_for
from brownout.scenario.yaml_lines import parse_yaml
from brownout.scenario.yaml_lines import too_large
from brownout.units import quote

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
                message += f", got {quote(err['input'])}"
        problems.append(Problem(source, line_for(lines, path), dotted(path), message))
    return problems


def _compile_fault(raw: object, prefix: Key, lines: dict[Key, int], source: str) -> Fault | list[Problem]:
    key = dotted(prefix)
    if not isinstance(raw, dict):
        return [
            Problem(source, line_for(lines, prefix), key, "expected a mapping with `type:` and the fault's attributes")
        ]
    attrs = dict(raw)
    type_name = attrs.pop("type", None)
    allowed = ", ".join(sorted(Fault.registry))
    if type_name is None:
        return [
            Problem(
                source, line_for(lines, prefix), key + ".type", f"required key is missing; allowed types: {allowed}"
            )
        ]
    cls = Fault.registry.get(str(type_name))
    if cls is None:
        return [
            Problem(
                source,
                line_for(lines, (*prefix, "type")),
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
    data, lines = parse_yaml(text, source)
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
    if doc.name is None:
        try:
            check_name(name)
        except ValueError as exc:
            raise ScenarioError([Problem(source, 1, "name", f"{exc} (the file's name); set `name:`")]) from None
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
            rules.append(
                CompiledRule(rule.label(fault), rule.match, rule.probability, fault, index, rule.counting, rule.flap)
            )
    timeline: Timeline | None = None
    phase_rules: tuple[tuple[CompiledRule, ...], ...] = ()
    if doc.timeline is not None and not problems:
        timeline, phase_rules = _compile_timeline(doc.timeline, tuple(rules), lines, source, problems)
    if problems:
        raise ScenarioError(problems)
    return Scenario(
        name,
        doc.description,
        doc.seed,
        tuple(rules),
        source,
        text,
        timeline,
        phase_rules,
        doc.reproduces.strip(),
        lines.get(("name",), 1),
    )


def _compile_timeline(
    doc: TimelineDoc, rules: tuple[CompiledRule, ...], lines: dict[Key, int], source: str, problems: list[Problem]
) -> tuple[Timeline, tuple[tuple[CompiledRule, ...], ...]]:
    """Check that every phase refers to rules that exist, then fix each phase's rules."""
    names = list(dict.fromkeys(rule.name for rule in rules))
    known = ", ".join(names)

    def problem(path: Key, message: str) -> None:
        problems.append(Problem(source, line_for(lines, path), dotted(path), message))

    phase_docs, loop = _phase_docs(doc, names, problem)
    phases: list[Phase] = []
    for index, phase in enumerate(phase_docs):
        at: Key = ("timeline", "phases", index)
        last = index == len(phase_docs) - 1
        if phase.duration is None and (loop or not last):
            why = "with `loop: true` every phase needs one" if loop else "every phase but the last needs one"
            problem((*at, "duration"), f"required key is missing ({why}), e.g. 30s or 2m")
        for position, rule in enumerate(phase.rules or ()):
            if rule not in names:
                problem((*at, "rules", position), f"unknown rule {rule!r}; this scenario's rules: {known}")
        on = set(names) if phase.rules is None else set(phase.rules)
        for key in ("probability", "capacity"):
            for rule in getattr(phase, key):
                if rule not in names:
                    problem((*at, key, rule), f"unknown rule {rule!r}; this scenario's rules: {known}")
                elif rule not in on:
                    problem(
                        (*at, key, rule),
                        f"rule {rule!r} is not on in this phase (on: {', '.join(sorted(on)) or 'none'})",
                    )
                elif key == "capacity" and not any(isinstance(r.fault, OverloadFault) for r in rules if r.name == rule):
                    problem((*at, key, rule), f"rule {rule!r} is not an overload rule: only a capacity can be cut")
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
            dataclasses.replace(
                rule,
                probability=phase.probability.get(rule.name, rule.probability),
                capacity=written.capacity.get(rule.name, 1.0),
            )
            for rule in rules
            if phase.rule_is_on(rule.name)
        )
        for phase, written in zip(phases, phase_docs, strict=True)
    )
    return Timeline(tuple(phases), loop), per_phase


def _phase_docs(
    doc: TimelineDoc, names: list[str], problem: typing.Callable[[Key, str], None]
) -> tuple[list[PhaseDoc], bool]:
    """The timeline's phases as written, or the two a `flap:` stands for (which always loops)."""
    if doc.flap is None:
        assert doc.phases is not None
        return doc.phases, doc.loop
    flap = doc.flap
    for position, rule in enumerate(flap.rules or ()):
        if rule not in names:
            problem(
                ("timeline", "flap", "rules", position),
                f"unknown rule {rule!r}; this scenario's rules: {', '.join(names)}",
            )
    phases = [
        PhaseDoc(name=name, duration=seconds, rules=flap.rules if name == ON else []) for name, seconds in flap.phases()
    ]
    return phases, True


def read_scenario_text(path: Path) -> str:
    """A scenario file's text; read no further than a scenario may be (a path may name a device
    or a huge file). Raises ScenarioError."""
    try:
        with path.open("rb") as file:
            raw = file.read(LARGEST_TEXT + 1)
    except OSError as exc:
        raise ScenarioError([Problem(str(path), None, "", f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > LARGEST_TEXT:
        raise ScenarioError([Problem(str(path), None, "", too_large(len(raw)))])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError([Problem(str(path), None, "", "not UTF-8 text")]) from None


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    return parse_scenario(read_scenario_text(path), str(path), default_name=path.stem)
