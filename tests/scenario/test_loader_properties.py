"""Properties of the scenario loader: whatever text or values come in, the answer is a compiled
scenario or a clear, located ScenarioError, never another exception, in bounded time and memory.

The budget is fixed (tests/property_budget.py): the same examples on every run; each example's
time and memory are bounded by the test itself (`outcome`), not by a hypothesis deadline.
"""

from __future__ import annotations

import json
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from brownout.faults import Fault
from brownout.scenario.compile import parse_scenario
from brownout.scenario.model import Scenario
from brownout.scenario.names import is_name
from brownout.scenario.yaml_lines import LINE_BREAK
from brownout.scenario.yaml_lines import ScenarioError
from brownout.units import LARGEST_COUNT
from brownout.units import LONGEST_PHASE
from brownout.units import LONGEST_WAIT
from property_budget import budget

SOURCE = "p.yaml"
# Per example: a scenario is read in well under a second and a few megabytes.
EXAMPLES = 200
MOST_SECONDS = 2.0
MOST_BYTES = 32 * 1024 * 1024


def outcome(text: str) -> Scenario | ScenarioError:
    """Load `text`, measuring it; any exception but ScenarioError fails the property."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        return parse_scenario(text, SOURCE, default_name="p")
    except ScenarioError as exc:
        return exc
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert seconds < MOST_SECONDS, f"took {seconds:.2f} s"
        assert peak < MOST_BYTES, f"took {peak} bytes"


def check(text: str) -> Scenario | ScenarioError:
    result = outcome(text)
    if isinstance(result, ScenarioError):
        assert result.problems, "a ScenarioError says what is wrong"
        lines = len(LINE_BREAK.findall(text)) + 1
        for problem in result.problems:
            assert problem.source == SOURCE
            assert problem.message and "\n" not in problem.message and "\r" not in problem.message
            assert problem.line is None or 1 <= problem.line <= lines
            assert len(str(problem)) < 2000, "a problem quotes what it refuses short"
        return result
    assert is_name(result.name)
    for rule in result.rules:
        assert is_name(rule.name) and math.isfinite(rule.probability) and 0 <= rule.probability <= 1
        for field, value in rule.fault.model_dump().items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            assert math.isfinite(value) and abs(value) <= LARGEST_COUNT, (field, value)
            if isinstance(value, float) and field not in ("keep", "tokens_per_second"):
                assert value <= LONGEST_WAIT, (field, value)  # every float attribute but these is a wait
    for phase in result.timeline.phases if result.timeline else ():
        assert is_name(phase.name) and (phase.duration is None or 0 < phase.duration <= LONGEST_PHASE)
    return result


# -------------------------------------------------------------------- arbitrary text

# Pieces of YAML syntax and of scenarios, so the text reaches the parser's corners and the
# validator's, not only "not valid YAML" at the first character.
TOKENS = [
    *": - ? , [ ] { } & * ! | > # ' \" % @ ` \t \\".split(" "),
    " ",
    "\n",
    "\n  ",
    "\n    ",
    "\n- ",
    "---",
    "...",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "!!int ",
    "!!float ",
    "!!str ",
    "!!binary ",
    "!!python/object ",
    "%YAML 1.1\n",
    "rules",
    "fault",
    "type",
    "match",
    "probability",
    "timeline",
    "phases",
    "duration",
    "name",
    "seed",
    "reset",
    "latency",
    "timeout",
    "error",
    "stream_slow",
    "delay",
    "hang",
    "status",
    "1",
    "0",
    "-1",
    "429",
    "1.5",
    "1e300",
    ".inf",
    "-.inf",
    ".nan",
    "2s",
    "250ms",
    "1h",
    "99999999999999999999",
    "1:30",
    "2001-02-30",
    "true",
    "null",
    "~",
    "\u202e",
    "\x00",
    "\r",
]
yaml_like = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@budget(EXAMPLES)
@given(st.text(max_size=400))
def test_any_text_loads_or_is_refused_clearly(text: str) -> None:
    check(text)


@budget(EXAMPLES)
@given(yaml_like)
def test_yaml_like_text_loads_or_is_refused_clearly(text: str) -> None:
    check(text)


@budget(EXAMPLES)
@given(st.integers(1, 12), st.integers(1, 12), st.booleans())
def test_aliases_multiplying_each_other_are_refused_in_bounded_time(levels: int, fanout: int, mapping: bool) -> None:
    lines = ["rules:\n  - fault: {type: reset}", "l0: &l0 x"]
    for level in range(1, levels + 1):
        items = [f"*l{level - 1}"] * fanout
        body = (
            "{" + ", ".join(f"k{i}: {item}" for i, item in enumerate(items)) + "}"
            if mapping
            else f"[{', '.join(items)}]"
        )
        lines.append(f"l{level}: &l{level} {body}")
    result = check("\n".join(lines) + "\n")
    if fanout**levels > 20_000:  # past the budget however it is counted
        assert isinstance(result, ScenarioError) and "more than 10000 values" in str(result)


# -------------------------------------------------------------------- arbitrary values

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1e300, -1e300, 2**63, 2**64, 10**13, 3600, 3600.0001, 86400]),
)
DURATIONS = ["2s", "250ms", "1m30s", "1h", "61m", "25h", "inf", "nan", "1e300", "-1s", "99999999999h", ""]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=30),
    st.sampled_from([*DURATIONS, "openai", "chat"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
names = st.one_of(st.text(max_size=12), st.sampled_from(["a", "b", "x.y-z_1", "..", ".", "a b", "n" * 101]))


@st.composite
def fault_docs(draw: Callable[..., Any]) -> dict[str, Any]:
    """A fault: a registered type (now and then an unknown one) with some of its own attributes
    (and now and then a stray key), each given an arbitrary value."""
    type_name = draw(st.sampled_from([*sorted(Fault.registry), "bogus"]))
    fields = list(Fault.registry[type_name].model_fields) if type_name in Fault.registry else []
    keys = draw(st.lists(st.sampled_from([*fields, "stray"]), unique=True, max_size=4))
    # Mostly numbers and durations, which most attributes are, so the bounds are what is tried.
    attribute = st.one_of(numbers, st.sampled_from(DURATIONS), values)
    return {"type": type_name, **{key: draw(attribute) for key in keys}}


@st.composite
def scenario_docs(draw: Callable[..., Any]) -> dict[str, Any]:
    rule_names = draw(st.lists(names, min_size=1, max_size=3))
    rules: list[Any] = []
    for rule_name in rule_names:
        rule: dict[str, Any] = {"fault": draw(fault_docs())}
        if draw(st.booleans()):
            rule["name"] = rule_name
        if draw(st.booleans()):
            rule["probability"] = draw(numbers)
        if draw(st.booleans()):
            rule["match"] = draw(
                st.dictionaries(
                    st.sampled_from(["provider", "endpoint", "model", "stream", "modle"]), values, max_size=3
                )
            )
        rules.append(rule if draw(st.integers(0, 9)) else draw(values))
    doc: dict[str, Any] = {"rules": rules}
    for key, strategy in (("name", names), ("seed", numbers), ("description", scalars)):
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    if draw(st.booleans()):
        phase = st.fixed_dictionaries(
            {"name": names},
            optional={
                "duration": scalars,
                "rules": st.lists(st.sampled_from([*rule_names, "nope"]), max_size=3),
                "probability": st.dictionaries(st.sampled_from([*rule_names, "nope"]), numbers, max_size=2),
            },
        )
        doc["timeline"] = {"loop": draw(st.booleans()), "phases": draw(st.lists(phase, max_size=3))}
    return doc


def as_yaml(doc: object) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def as_json(doc: object) -> str:
    # NaN and Infinity are not JSON, but Python writes them: they must be refused, not crash.
    return json.dumps(doc, allow_nan=True, ensure_ascii=False)


@budget(EXAMPLES)
@given(scenario_docs())
def test_scenario_shaped_values_in_yaml_load_or_are_refused_clearly(doc: dict[str, Any]) -> None:
    check(as_yaml(doc))


@budget(EXAMPLES)
@given(scenario_docs())
def test_scenario_shaped_values_in_json_load_or_are_refused_clearly(doc: dict[str, Any]) -> None:
    check(as_json(doc))


@budget(EXAMPLES)
@given(values)
def test_any_document_loads_or_is_refused_clearly(doc: object) -> None:
    check(as_yaml(doc))
