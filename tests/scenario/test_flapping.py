"""The flap helper: on for its duty cycle of every period, in either order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.scenario.flapping import Flap
from property_budget import budget


def test_on_first_then_off() -> None:
    flap = Flap(period="10s", duty=0.25)
    assert [flap.is_on(t) for t in (0, 2.4, 2.5, 9.9, 10, 12.6)] == [True, True, False, False, True, False]
    assert flap.phases() == [("on", 2.5), ("off", 7.5)]


def test_off_first_then_on() -> None:
    flap = Flap(period="1m", duty=0.5, start="off")
    assert [flap.is_on(t) for t in (0, 29.9, 30, 59.9, 60)] == [False, False, True, True, False]
    assert flap.phases() == [("off", 30.0), ("on", 30.0)]


@budget(100)
@given(
    period=st.floats(min_value=0.01, max_value=1e4),
    duty=st.floats(min_value=0.01, max_value=0.99),
    start=st.sampled_from(["on", "off"]),
)
def test_the_share_of_time_on_is_the_duty(period: float, duty: float, start: str) -> None:
    flap = Flap(period=period, duty=duty, start=start)  # type: ignore[arg-type]
    steps = 1000
    on = sum(flap.is_on(period * (i + 0.5) / steps) for i in range(steps))
    assert on / steps == pytest.approx(duty, abs=0.002)


def test_bare_yaml_on_and_off_read_as_the_words() -> None:
    from brownout.scenario.compile import parse_scenario

    text = "rules:\n  - {flap: {period: 2s, duty: 0.5, start: off}, fault: {type: reset}}\n"
    rule = parse_scenario(text, "s.yaml", default_name="s").rules[0]
    assert rule.flap is not None and rule.flap.start == "off"
