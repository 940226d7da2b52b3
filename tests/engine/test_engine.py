import pytest

from brownout.classify.request import RequestInfo
from brownout.engine.engine import Engine
from brownout.engine.engine import UnknownScenario
from brownout.scenario.compile import parse_scenario

CHAT = RequestInfo("openai", "chat", "gpt-4o", False)
MESSAGES = RequestInfo("anthropic", "messages", "claude-sonnet-4-6", True)


def engine_with(*texts: str) -> Engine:
    engine = Engine()
    for index, text in enumerate(texts):
        engine.load(parse_scenario(text, f"s{index}.yaml", default_name=f"s{index}"))
    return engine


def test_nothing_fires_until_a_scenario_is_on() -> None:
    engine = engine_with("rules:\n  - fault: {type: reset}\n")
    assert engine.choose(CHAT) is None
    assert engine.activate("s0") is True and engine.activate("s0") is False
    decision = engine.choose(CHAT)
    assert decision is not None and (decision.scenario, decision.rule, decision.fault.type_name) == (
        "s0",
        "reset",
        "reset",
    )
    assert engine.deactivate("s0") is True
    assert engine.choose(CHAT) is None


def test_rules_are_tried_in_order_and_must_match() -> None:
    engine = engine_with(
        "rules:\n"
        "  - {name: anthropic-only, match: {provider: anthropic}, fault: {type: reset}}\n"
        "  - {name: streams, match: {stream: true}, fault: {type: empty_reply}}\n"
        "  - {name: gpt, match: {model: 'gpt-4*', endpoint: [chat, responses]}, fault: {type: error, status: 500}}\n"
    )
    engine.activate("s0")
    assert engine.choose(CHAT).rule == "gpt"  # type: ignore[union-attr]
    assert engine.choose(MESSAGES).rule == "anthropic-only"  # type: ignore[union-attr]
    assert engine.choose(RequestInfo("gemini", "generate", "gemini-2.5-flash", False)) is None


def test_rules_can_match_requests_that_offered_tools_or_asked_for_json() -> None:
    engine = engine_with(
        "rules:\n"
        "  - {name: tools, match: {tools: true}, fault: {type: bad_tool_call}}\n"
        "  - {name: json, match: {structured_output: true}, fault: {type: bad_structured_output}}\n"
        "  - {name: prose, match: {tools: false, structured_output: false}, fault: {type: truncate}}\n"
    )
    engine.activate("s0")
    assert engine.choose(RequestInfo("openai", "chat", "gpt-4o", False, tools=True)).rule == "tools"  # type: ignore[union-attr]
    asked_json = RequestInfo("gemini", "generate", "gemini-2.5-flash", False, structured_output=True)
    assert engine.choose(asked_json).rule == "json"  # type: ignore[union-attr]
    assert engine.choose(CHAT).rule == "prose"  # type: ignore[union-attr]


def test_probability_draws_are_reproducible_with_a_seed() -> None:
    text = "seed: 42\nrules:\n  - probability: 0.3\n    fault: {type: reset}\n"

    def draws() -> list[bool]:
        engine = engine_with(text)
        engine.activate("s0")
        return [engine.choose(CHAT) is not None for _ in range(200)]

    first = draws()
    assert first == draws()
    assert 40 <= sum(first) <= 80  # about 30 %


def test_reactivation_restarts_the_seeded_sequence() -> None:
    engine = engine_with("seed: 1\nrules:\n  - probability: 0.5\n    fault: {type: reset}\n")
    engine.activate("s0")
    first = [engine.choose(CHAT) is not None for _ in range(50)]
    engine.deactivate("s0")
    engine.activate("s0")
    assert [engine.choose(CHAT) is not None for _ in range(50)] == first


def test_probability_zero_never_fires_and_one_always_does() -> None:
    engine = engine_with("rules:\n  - {probability: 0, fault: {type: reset}}\n  - fault: {type: empty_reply}\n")
    engine.activate("s0")
    assert {engine.choose(CHAT).rule for _ in range(100)} == {"empty_reply"}  # type: ignore[union-attr]


def test_scenarios_are_tried_in_activation_order() -> None:
    engine = engine_with("rules:\n  - fault: {type: reset}\n", "rules:\n  - fault: {type: empty_reply}\n")
    engine.activate("s1")
    engine.activate("s0")
    assert engine.choose(CHAT).scenario == "s1"  # type: ignore[union-attr]
    assert engine.clear() == ["s1", "s0"] and engine.active == []


def test_only_consults_one_scenario_even_when_off() -> None:
    engine = engine_with("rules:\n  - fault: {type: reset}\n")
    assert engine.choose(CHAT, only="s0").scenario == "s0"  # type: ignore[union-attr]


def test_unknown_names() -> None:
    engine = engine_with("rules:\n  - fault: {type: reset}\n")
    with pytest.raises(UnknownScenario, match="unknown scenario 'nope'; loaded: s0"):
        engine.activate("nope")
    with pytest.raises(UnknownScenario):
        engine.deactivate("nope")


def test_replacing_a_scenario_keeps_it_on() -> None:
    engine = engine_with("rules:\n  - fault: {type: reset}\n")
    engine.activate("s0")
    assert engine.load(parse_scenario("rules:\n  - fault: {type: empty_reply}\n", default_name="s0")) is True
    assert engine.is_active("s0")
    assert engine.choose(CHAT).fault.type_name == "empty_reply"  # type: ignore[union-attr]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TIMED = """\
rules:
  - {name: down, fault: {type: error, status: 503}}
  - {name: slow, fault: {type: latency, delay: 1s}}
timeline:
  loop: true
  phases:
    - {name: healthy, duration: 30s, rules: []}
    - {name: outage, duration: 60s, rules: [down]}
    - {name: brownout, duration: 2m, rules: [slow]}
"""


def test_the_timeline_clock_starts_when_the_scenario_is_switched_on() -> None:
    clock = FakeClock()
    engine = Engine(clock=clock)
    engine.load(parse_scenario(TIMED, default_name="t"))
    clock.now += 500  # time spent loaded but off does not count
    assert engine.phase("t") is None and engine.active_for("t") is None
    engine.activate("t")

    def fired() -> str | None:
        decision = engine.choose(CHAT)
        return None if decision is None else decision.rule

    seen = []
    for offset in (0, 29, 30, 89, 90, 209, 210):
        clock.now = 1500 + offset
        phase = engine.phase("t")
        assert phase is not None
        seen.append((phase.name, fired()))
    assert seen == [
        ("healthy", None),
        ("healthy", None),
        ("outage", "down"),
        ("outage", "down"),
        ("brownout", "slow"),
        ("brownout", "slow"),
        ("healthy", None),  # it loops
    ]
    assert engine.active_for("t") == 210


def test_switching_off_and_on_restarts_the_timeline() -> None:
    clock = FakeClock()
    engine = Engine(clock=clock)
    engine.load(parse_scenario(TIMED, default_name="t"))
    engine.activate("t")
    clock.now += 45
    assert engine.phase("t").name == "outage"  # type: ignore[union-attr]
    engine.deactivate("t")
    assert engine.phase("t") is None
    engine.activate("t")
    assert engine.phase("t").name == "healthy"  # type: ignore[union-attr]
    engine.clear()
    assert engine.active_for("t") is None


def test_a_reload_keeps_the_timeline_clock() -> None:
    clock = FakeClock()
    engine = Engine(clock=clock)
    engine.load(parse_scenario(TIMED, default_name="t"))
    engine.activate("t")
    clock.now += 45
    engine.load(parse_scenario(TIMED.replace("status: 503", "status: 500"), default_name="t"))
    decision = engine.choose(CHAT)
    assert engine.phase("t").name == "outage"  # type: ignore[union-attr]
    assert decision is not None and decision.fault.status == 500  # type: ignore[attr-defined]


def test_phase_probability_overrides_and_an_ended_timeline() -> None:
    clock = FakeClock()
    engine = Engine(clock=clock)
    text = (
        "seed: 5\nrules:\n  - {name: down, fault: {type: reset}}\n"
        "timeline:\n  phases:\n    - {name: rare, duration: 10s, probability: {down: 0.1}}\n"
        "    - {name: last, duration: 10s}\n"
    )
    engine.load(parse_scenario(text, default_name="t"))
    engine.activate("t")
    rare = sum(engine.choose(CHAT) is not None for _ in range(500))
    assert 20 <= rare <= 90  # about 10 %
    clock.now += 15
    assert all(engine.choose(CHAT) is not None for _ in range(20))  # the rule's own probability, 1
    clock.now += 10
    ended = engine.phase("t")
    assert ended is not None and ended.ended
    assert engine.choose(CHAT) is None  # nothing fires once a timeline has run out


def test_an_override_of_a_switched_off_scenario_uses_all_its_rules() -> None:
    engine = Engine(clock=FakeClock())
    engine.load(parse_scenario(TIMED, default_name="t"))
    assert engine.choose(CHAT, only="t").rule == "down"  # type: ignore[union-attr]
    engine.activate("t")
    assert engine.choose(CHAT, only="t") is None  # on, in its healthy phase


def test_a_phase_cuts_an_overload_rules_capacity() -> None:
    clock = [0.0]
    engine = Engine(clock=lambda: clock[0])
    engine.load(
        parse_scenario(
            "rules:\n  - {name: pool, fault: {type: overload, rps: 20}}\n"
            "timeline:\n  phases:\n    - {name: steady, duration: 5s}\n"
            "    - {name: surge, duration: 2s, capacity: {pool: 0.2}}\n    - {name: after}\n",
            "s.yaml",
            default_name="s",
        )
    )
    engine.activate("s")
    capacities = []
    for at in (1.0, 5.5, 8.0):
        clock[0] = at
        decision = engine.choose(CHAT)
        assert decision is not None
        capacities.append(decision.capacity)
    assert capacities == [1.0, 0.2, 1.0]


@pytest.mark.parametrize(
    ("phase", "message"),
    [
        ("capacity: {nope: 0.5}", "timeline.phases[0].capacity.nope: unknown rule 'nope'"),
        ("capacity: {slow: 0.5}", "timeline.phases[0].capacity.slow: rule 'slow' is not an overload rule"),
        ("rules: [slow], capacity: {pool: 0.5}", "timeline.phases[0].capacity.pool: rule 'pool' is not on"),
        ("capacity: {pool: 0}", "timeline.phases[0].capacity.pool: Input should be greater than 0"),
    ],
)
def test_bad_phase_capacities_are_named(phase: str, message: str) -> None:
    from brownout.scenario.yaml_lines import ScenarioError

    text = (
        "rules:\n  - {name: pool, fault: {type: overload, rps: 20}}\n"
        "  - {name: slow, fault: {type: latency, delay: 1s}}\n"
        f"timeline:\n  phases:\n    - {{name: a, {phase}}}\n"
    )
    with pytest.raises(ScenarioError) as error:
        parse_scenario(text, "s.yaml", default_name="s")
    assert message in str(error.value)
