"""Rules that count and rules that flap, on the engine's virtual clock: `first` per logical request
known at arrival, `times`, `every`, their scopes, and `flap`."""

from __future__ import annotations

import json

import pytest

from brownout.classify.request import RequestInfo
from brownout.engine.engine import Engine
from brownout.engine.sequences import Arrival
from brownout.engine.sequences import LogicalRequests
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def engine_with(text: str) -> tuple[Engine, Clock]:
    clock = Clock()
    engine = Engine(clock=clock)
    engine.load(parse_scenario(text, "s.yaml", default_name="s"))
    engine.activate("s")
    return engine, clock


def info(key: str = "k1") -> RequestInfo:
    return RequestInfo("openai", "chat", "gpt-4o", False, "openai-python", key)


def arrival(prompt: str = "hello", address: str = "10.0.0.1") -> Arrival:
    parsed = {"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]}
    return Arrival(address, "POST", "/v1/chat/completions", json.dumps(parsed).encode(), parsed)


def attempt(engine: Engine, *, key: str = "k1", prompt: str = "hello", address: str = "10.0.0.1") -> bool:
    """One attempt that ends at once: it failed when the rule fired (the fault's error), else succeeded."""
    here = arrival(prompt, address)
    fired = engine.choose(info(key), arrival=here) is not None
    engine.ended(here, failed=fired)
    return fired


FIRST_2 = "rules:\n  - first: 2\n    fault: {type: error, kind: overloaded}\n"


def test_first_fails_the_first_attempts_of_each_logical_request_then_lets_it_through() -> None:
    engine, clock = engine_with(FIRST_2)
    assert [attempt(engine) for _ in range(3)] == [True, True, False]
    # The same request after its success is a logical request of its own: two failures again.
    assert [attempt(engine) for _ in range(3)] == [True, True, False]
    assert [attempt(engine, prompt="other") for _ in range(3)] == [True, True, False]


def test_a_retry_after_the_window_starts_a_new_logical_request() -> None:
    engine, clock = engine_with(FIRST_2)
    engine.retry_window = 5.0
    assert attempt(engine)
    clock.now += 6.0
    assert [attempt(engine), attempt(engine), attempt(engine)] == [True, True, False]


def test_identical_requests_under_way_together_are_separate_logical_requests() -> None:
    engine, _ = engine_with(FIRST_2)
    twins = [arrival(), arrival()]
    assert all(engine.choose(info(), arrival=here) is not None for here in twins)  # both first attempts
    for here in twins:
        engine.ended(here, failed=True)
    retries = [arrival(), arrival()]
    assert all(engine.choose(info(), arrival=here) is not None for here in retries)  # both second attempts
    for here in retries:
        engine.ended(here, failed=True)
    assert [engine.choose(info(), arrival=arrival()) for _ in range(2)] == [None, None]  # both third: through


def test_twins_numbered_retries_continue_the_failure_with_as_many_attempts() -> None:
    """Twins out of step: one failed twice, the other once. An SDK's first retry (retry count 1)
    continues the twin that failed once, even when the twice-failed one waits longer; taking the
    oldest would let that one through on its third attempt and fail this one a third time."""
    table = LogicalRequests()
    key = ("who", "twin")
    ahead = table.arrive(key, 0.0, 30.0, retry_count=0)
    table.ended(ahead, 0.1, failed=True)
    ahead = table.arrive(key, 0.5, 30.0, retry_count=1)
    behind = table.arrive(key, 0.6, 30.0, retry_count=0)
    table.ended(ahead, 0.7, failed=True)  # the twin ahead has failed twice, now oldest in the queue
    table.ended(behind, 0.8, failed=True)  # the twin behind once
    assert table.arrive(key, 1.0, 30.0, retry_count=1).logical is behind.logical
    assert table.arrive(key, 1.1, 30.0, retry_count=2).logical is ahead.logical
    # A numbered retry whose own failure a twin's unnumbered first attempt took: the attempt its
    # number says, of its own logical request (the twin's failure stays for the twin's retry).
    lone = table.arrive(("who", "taken"), 0.0, 30.0, retry_count=0)
    table.ended(lone, 0.1, failed=True)
    twin = table.arrive(("who", "taken"), 0.1, 30.0, retry_count=0)  # joins the failure: 2 attempts
    table.ended(twin, 0.2, failed=True)
    retry = table.arrive(("who", "taken"), 0.6, 30.0, retry_count=1)
    assert retry.logical is not lone.logical and retry.logical.attempts == 2
    assert table.arrive(("who", "taken"), 1.5, 30.0, retry_count=2).logical is lone.logical
    # Without a number (a client that does not count its attempts) the oldest failure is taken.
    first = table.arrive(("who", "plain"), 0.0, 30.0)
    table.ended(first, 0.1, failed=True)
    second = table.arrive(("who", "plain"), 0.2, 30.0)
    table.ended(second, 0.3, failed=True)
    assert table.arrive(("who", "plain"), 0.4, 30.0).logical is first.logical


@pytest.mark.parametrize(
    ("scope", "other_address_shares", "other_key_shares"),
    [("client", False, False), ("key", True, False), ("global", True, True)],
)
def test_first_scopes(scope: str, other_address_shares: bool, other_key_shares: bool) -> None:
    engine, _ = engine_with(f"rules:\n  - first: 1\n    scope: {scope}\n    fault: {{type: error, status: 503}}\n")
    assert attempt(engine)  # client A fails once
    # The retry comes from another address with the same key, or with another key.
    assert attempt(engine, address="10.0.0.2") is not other_address_shares
    engine, _ = engine_with(f"rules:\n  - first: 1\n    scope: {scope}\n    fault: {{type: error, status: 503}}\n")
    assert attempt(engine)
    assert attempt(engine, key="k2") is not other_key_shares


def test_times_fires_n_times_in_all_then_stops_until_switched_on_again() -> None:
    engine, _ = engine_with("rules:\n  - times: 3\n    fault: {type: error, status: 500}\n")
    assert [attempt(engine, key=f"k{i}") for i in range(5)] == [True, True, True, False, False]
    engine.deactivate("s")
    engine.activate("s")
    assert attempt(engine)


def test_times_per_key() -> None:
    engine, _ = engine_with("rules:\n  - {times: 1, scope: key, fault: {type: error, status: 500}}\n")
    assert [attempt(engine, key="a"), attempt(engine, key="a"), attempt(engine, key="b")] == [True, False, True]


def test_times_counts_firings_not_draws() -> None:
    engine, _ = engine_with("seed: 3\nrules:\n  - {times: 5, probability: 0.5, fault: {type: error, status: 500}}\n")
    assert sum(attempt(engine) for _ in range(200)) == 5


def test_every_fires_on_every_nth_request() -> None:
    engine, _ = engine_with("rules:\n  - every: 3\n    fault: {type: reset}\n")
    assert [attempt(engine, key=f"k{i}") for i in range(7)] == [False, False, True, False, False, True, False]


def test_every_per_client() -> None:
    engine, _ = engine_with("rules:\n  - {every: 2, scope: client, fault: {type: reset}}\n")
    fired = [attempt(engine, address=address) for address in ("a", "b", "a", "b")]
    assert fired == [False, False, True, True]


def test_a_request_taken_by_an_earlier_rule_never_reaches_a_counting_rule() -> None:
    engine, _ = engine_with(
        "rules:\n"
        "  - {name: big, match: {model: 'gpt-4o'}, every: 2, fault: {type: reset}}\n"
        "  - {name: late, times: 1, fault: {type: error, status: 500}}\n"
    )
    first = engine.choose(info(), arrival=arrival())
    assert first is not None and first.rule == "late"  # `big` let it by (1st of 2), `late` took it
    second = engine.choose(info(), arrival=arrival())
    assert second is not None and second.rule == "big"
    assert engine.choose(info(), arrival=arrival()) is None  # `late` had its one


def test_counts_start_over_when_the_scenario_is_reloaded() -> None:
    engine, _ = engine_with("rules:\n  - times: 1\n    fault: {type: reset}\n")
    assert attempt(engine) and not attempt(engine)
    engine.load(parse_scenario("rules:\n  - times: 1\n    fault: {type: reset}\n", "s.yaml", default_name="s"))
    assert attempt(engine)


def test_scope_alone_is_an_error() -> None:
    with pytest.raises(ScenarioError, match="rules\\[0\\]: `scope` says whose count it is"):
        parse_scenario("rules:\n  - scope: key\n    fault: {type: reset}\n", "s.yaml", default_name="s")


def test_the_logical_table_is_bounded() -> None:
    table = LogicalRequests(max_tracked=10)
    for i in range(100):
        table.ended(table.arrive(("who", f"request-{i}"), float(i), 30.0), float(i), failed=True)
    assert len(table) == 10


def test_a_flapping_rule_is_on_for_its_duty_cycle_from_the_switch_on() -> None:
    engine, clock = engine_with("rules:\n  - flap: {period: 10s, duty: 0.3}\n    fault: {type: reset}\n")
    seen = []
    for _ in range(20):
        seen.append(engine.choose(info()) is not None)
        clock.now += 1.0
    assert seen == [True] * 3 + [False] * 7 + [True] * 3 + [False] * 7
    engine, clock = engine_with("rules:\n  - flap: {period: 4s, duty: 0.25, start: 'off'}\n    fault: {type: reset}\n")
    seen = []
    for _ in range(8):
        seen.append(engine.choose(info()) is not None)
        clock.now += 1.0
    assert seen == [False, False, False, True] * 2


def test_a_flapping_rule_of_a_scenario_consulted_while_off_applies_as_written() -> None:
    engine, _ = engine_with("rules:\n  - flap: {period: 4s, duty: 0.25, start: 'off'}\n    fault: {type: reset}\n")
    engine.deactivate("s")
    assert engine.choose(info(), only="s") is not None


def test_a_flapping_timeline_is_two_looping_phases() -> None:
    engine, clock = engine_with(
        "rules:\n  - {name: down, fault: {type: reset}}\n  - {name: slow, fault: {type: latency, delay: 1s}}\n"
        "timeline:\n  flap: {period: 10s, duty: 0.4, rules: [down]}\n"
    )
    at = engine.phase("s")
    assert at is not None and (at.name, at.remaining) == ("on", 4.0)
    assert engine.choose(info()).rule == "down"  # type: ignore[union-attr]
    clock.now += 5.0
    assert engine.phase("s").name == "off"  # type: ignore[union-attr]
    assert engine.choose(info()) is None
    clock.now += 6.0  # 11 s: the next cycle
    at = engine.phase("s")
    assert at is not None and (at.name, at.cycle) == ("on", 1)


@pytest.mark.parametrize(
    ("timeline", "message"),
    [
        ("flap: {period: 10s, duty: 1.5}", "timeline.flap.duty: Input should be less than 1"),
        ("flap: {period: 0s, duty: 0.5}", "timeline.flap.period: Input should be greater than 0"),
        ("flap: {period: 10s, duty: 0.5, rules: [nope]}", "timeline.flap.rules[0]: unknown rule 'nope'"),
        ("flap: {period: 10s, duty: 0.5}\n  loop: false", "timeline: a flap always loops"),
        (
            "flap: {period: 10s, duty: 0.5}\n  phases: [{name: a}]",
            "timeline: a timeline needs `phases` (a list of phases) or `flap`",
        ),
    ],
)
def test_bad_flaps_are_named(timeline: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("[", "\\[").replace("(", "\\(").replace(")", "\\)")):
        parse_scenario(f"rules:\n  - fault: {{type: reset}}\ntimeline:\n  {timeline}\n", "s.yaml", default_name="s")


def test_a_retry_may_wait_out_the_retry_after_it_was_given() -> None:
    engine, clock = engine_with(FIRST_2)
    engine.retry_window = 5.0
    here = arrival()
    assert engine.choose(info(), arrival=here) is not None
    engine.ended(here, failed=True, retry_after=60.0)
    clock.now += 64.0  # within the window plus the minute it was asked to wait: the same request
    assert [attempt(engine), attempt(engine)] == [True, False]
