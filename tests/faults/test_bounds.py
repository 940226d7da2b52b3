"""Every number a scenario holds is finite and bounded, with a located error otherwise.

The numeric attributes are found from the fault classes themselves, so a new fault whose
attribute is a plain `float` or `int` fails here until it takes one of the bounded types.
"""

from __future__ import annotations

import random
import types
import typing
from typing import Any

import pytest

from brownout.classify.request import RequestInfo
from brownout.faults import Fault
from brownout.faults.error import ErrorFault
from brownout.faults.latency import LatencyFault
from brownout.faults.timeout import TimeoutFault
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError
from brownout.units import LONGEST_WAIT

# YAML for numbers that are not numbers, or not of this world.
NOT_FINITE = [".nan", ".inf", "-.inf", "nan", "inf", "1e300", "'1e300'", "9" * 301, "'" + "9" * 301 + "'"]


def _numeric(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _numeric(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_numeric(arg) for arg in typing.get_args(annotation))
    return annotation in (int, float)


NUMERIC_ATTRIBUTES = sorted(
    (type_name, field)
    for type_name, cls in Fault.registry.items()
    for field, info in cls.model_fields.items()
    if _numeric(info.annotation)
)


def test_every_numeric_attribute_is_found() -> None:
    # The discovery above sees through Optional and Annotated: these must all be among them.
    for expected in [("latency", "delay"), ("timeout", "hang"), ("error", "retry_after_ms"), ("rate_limit", "rpm")]:
        assert expected in NUMERIC_ATTRIBUTES
    assert len(NUMERIC_ATTRIBUTES) >= 20


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml", default_name="s")
    return str(info.value).splitlines()


@pytest.mark.parametrize("type_name,field", NUMERIC_ATTRIBUTES, ids=lambda v: str(v))
@pytest.mark.parametrize("value", NOT_FINITE, ids=lambda v: v[:12])
def test_fault_numbers_are_finite_and_bounded(type_name: str, field: str, value: str) -> None:
    lines = problems_of(f"rules:\n  - fault:\n      type: {type_name}\n      {field}: {value}\n")
    assert any(line.startswith(f"s.yaml:4: rules[0].fault.{field}: ") for line in lines), lines
    assert all(len(line) < 300 for line in lines), "a rejected value is quoted short"


PHASES = "rules:\n  - {{name: r, fault: {{type: reset}}}}\ntimeline:\n  phases:\n"
SCENARIO_NUMBERS = [
    "rules:\n  - probability: {v}\n    fault: {{type: reset}}\n",
    "seed: {v}\nrules:\n  - fault: {{type: reset}}\n",
    PHASES + "    - {{name: a, duration: {v}}}\n",
    PHASES + "    - {{name: a, probability: {{r: {v}}}}}\n",
]


@pytest.mark.parametrize("template", SCENARIO_NUMBERS, ids=["probability", "seed", "phase-duration", "phase-p"])
@pytest.mark.parametrize("value", NOT_FINITE, ids=lambda v: v[:12])
def test_scenario_numbers_are_finite_and_bounded(template: str, value: str) -> None:
    lines = problems_of(template.format(v=value))
    assert len(lines) == 1 and lines[0].startswith("s.yaml:"), lines
    assert any(key in lines[0] for key in ("probability", "seed", "duration")), lines


@pytest.mark.parametrize(
    "attrs,message",
    [
        ("type: timeout, hang: .inf", "rules[0].fault.hang: a duration here is at most 1h, got inf"),
        ("type: timeout, hang: 2h", "rules[0].fault.hang: a duration here is at most 1h, got '2h'"),
        ("type: latency, delay: .nan", "rules[0].fault.delay: a duration must be a number of seconds, got nan"),
        ("type: error, status: 429, retry_after: 1e300", "rules[0].fault.retry_after: a duration here is at most"),
        ("type: error, status: 429, retry_after_ms: 3600001", "rules[0].fault.retry_after_ms: Input should be less"),
        ("type: rate_limit, rpm: 1000000000001", "rules[0].fault.rpm: Input should be less than or equal to"),
    ],
)
def test_the_messages_say_the_bound(attrs: str, message: str) -> None:
    (line,) = problems_of(f"rules:\n  - fault: {{{attrs}}}\n")
    assert line.startswith(f"s.yaml:2: {message}"), line


def test_an_hour_is_the_longest_wait_and_it_is_allowed() -> None:
    assert TimeoutFault.model_validate({"hang": "1h"}).hang == LONGEST_WAIT
    fault = ErrorFault.model_validate({"status": 429, "retry_after": "1h", "retry_after_ms": 3_600_000})
    reply = fault.reply(RequestInfo("openai", "chat", "gpt-4o", False))
    headers = dict(reply.headers)
    assert headers["retry-after"] == "3600" and headers["retry-after-ms"] == "3600000"


@pytest.mark.parametrize(
    "attrs",
    [
        {"distribution": "normal", "mean": "1h", "stddev": "1h"},
        {"distribution": "lognormal", "median": 1e-300, "p99": "1h"},
    ],
)
def test_a_latency_draw_never_passes_the_longest_wait(attrs: dict[str, object]) -> None:
    fault = LatencyFault.model_validate(attrs)
    rng = random.Random(1)
    draws = [fault.sample(rng) for _ in range(2000)]
    assert max(draws) <= LONGEST_WAIT and min(draws) >= 0.0
