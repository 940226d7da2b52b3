import textwrap
from pathlib import Path

import pytest

from brownout.faults.error import ErrorFault
from brownout.faults.latency import LatencyFault
from brownout.scenario.compile import load_scenario
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"

GOOD = """\
name: openai-rate-limit-storm
description: Half of chat calls get 429 with Retry-After 2s.
seed: 3
rules:
  - name: throttle
    match:
      provider: openai
      endpoint: chat
      model: "gpt-4o*"
      stream: true
    probability: 0.5
    fault:
      type: error
      status: 429
      retry_after: 2s
  - fault: {type: latency, distribution: uniform, min: 100ms, max: 1s}
"""


def test_spec_example_compiles() -> None:
    scenario = parse_scenario(GOOD, "s.yaml")
    assert scenario.name == "openai-rate-limit-storm" and scenario.seed == 3
    first, second = scenario.rules
    assert first.name == "throttle" and first.probability == 0.5
    assert first.match.provider == ["openai"] and first.match.model == ["gpt-4o*"] and first.match.stream is True
    assert first.fault == ErrorFault(status=429, retry_after=2.0)
    assert second.name == "latency"  # a rule's name defaults to its fault type
    assert second.fault == LatencyFault(distribution="uniform", min=0.1, max=1.0)


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "my-outage.yaml"
    path.write_text("rules:\n  - fault: {type: reset}\n")
    assert load_scenario(path).name == "my-outage"


# (scenario text, the exact problem lines expected)
BAD = [
    (
        "rules:\n  - fault: {type: reset}\n  - fault: {type: bogus}\n",
        [
            "s.yaml:3: rules[1].fault.type: unknown fault type 'bogus'; allowed: "
            "bad_structured_output, bad_tool_call, content_filter, empty_answer, empty_reply, error, latency, "
            "malformed, overload, rate_limit, refusal, reset, stream_corrupt, stream_cut, stream_error, "
            "stream_slow, stream_stall, timeout, truncate, usage_missing, usage_spike"
        ],
    ),
    (
        "rules:\n  - match:\n      provder: openai\n    fault: {type: reset}\n",
        [
            "s.yaml:3: rules[0].match.provder: unknown key; "
            "allowed: provider, endpoint, model, stream, tools, structured_output"
        ],
    ),
    (
        "rules:\n  - match: {provider: openia}\n    fault: {type: reset}\n",
        [
            "s.yaml:2: rules[0].match.provider[0]: Input should be 'openai', 'anthropic', 'gemini', 'azure' or "
            "'openai-compatible', got 'openia'"
        ],
    ),
    (
        "rules:\n  - match: {endpoint: chats}\n    fault: {type: reset}\n",
        [
            "s.yaml:2: rules[0].match.endpoint: unknown endpoint 'chats'; allowed: chat, responses, completions, "
            "embeddings, messages, count_tokens, generate, stream-generate, models, images, audio, moderations, other"
        ],
    ),
    (
        "rules:\n  - probability: 2\n    fault: {type: reset}\n",
        ["s.yaml:2: rules[0].probability: Input should be less than or equal to 1, got 2"],
    ),
    (
        "rules:\n  - fault:\n      type: error\n      status: 429\n      retry_after: soon\n",
        [
            "s.yaml:5: rules[0].fault.retry_after: expected a duration such as 250ms, 2s, 1.5s, 1m or 1m30s "
            "(a bare number means seconds), got 'soon'"
        ],
    ),
    (
        "rules:\n  - fault:\n      type: error\n      statuss: 429\n",
        [
            "s.yaml:4: rules[0].fault.statuss: unknown key for fault 'error'; allowed: type, status, kind, message, "
            "retry_after, retry_after_ms, should_retry"
        ],
    ),
    (
        "rules:\n  - fault:\n      type: error\n",
        ["s.yaml:2: rules[0].fault: an error fault needs `status` (400-599) or `kind`, or both"],
    ),
    (
        "rules:\n  - fault: {type: error, status: 200}\n",
        ["s.yaml:2: rules[0].fault.status: Input should be greater than or equal to 400, got 200"],
    ),
    (
        "rules:\n  - fault: {type: error, kind: overload}\n",
        ["s.yaml:2: rules[0].fault.kind: unknown error kind 'overload'; allowed: "],
    ),
    (
        "rules:\n  - fault: {type: latency}\n",
        ["s.yaml:2: rules[0].fault: give either `delay` (fixed) or `distribution` (uniform, normal or lognormal)"],
    ),
    (
        "rules:\n  - fault: {type: latency, distribution: lognormal, median: 1s}\n",
        ["s.yaml:2: rules[0].fault: distribution lognormal needs exactly median and p99; got median"],
    ),
    (
        "rules:\n  - fault: {type: latency, delay: 1s, min: 2s}\n",
        ["s.yaml:2: rules[0].fault: a fixed `delay` takes no min"],
    ),
    (
        "rules:\n  - fault: {type: malformed, mode: scrambled}\n",
        ["s.yaml:2: rules[0].fault.mode: Input should be 'truncate', 'invalid' or 'empty', got 'scrambled'"],
    ),
    (
        "rules:\n  - fault: {status: 500}\n",
        [
            "s.yaml:2: rules[0].fault.type: required key is missing; allowed types: "
            "bad_structured_output, bad_tool_call, content_filter, empty_answer, empty_reply, error, latency, "
            "malformed, overload, rate_limit, refusal, reset, stream_corrupt, stream_cut, stream_error, "
            "stream_slow, stream_stall, timeout, truncate, usage_missing, usage_spike"
        ],
    ),
    ("rules:\n  - name: x\n", ["s.yaml:2: rules[0].fault: required key is missing"]),
    ("rules: []\n", ["s.yaml:1: rules: List should have at least 1 item after validation, not 0"]),
    ("description: no rules\n", ["s.yaml:1: rules: required key is missing"]),
    (
        "rule:\n  - fault: {type: reset}\n",
        [
            "s.yaml:1: rules: required key is missing",
            "s.yaml:1: rule: unknown key; allowed: name, description, reproduces, seed, rules, timeline",
        ],
    ),
    (
        "name: bad name\nrules:\n  - fault: {type: reset}\n",
        [
            "s.yaml:1: name: not a valid name (letters, digits, `_`, `.` and `-`, starting with a letter or digit, "
            "at most 100 characters), got 'bad name'"
        ],
    ),
    ("rules:\n  - fault: {type: reset}\n    fault: {type: reset}\n", ["s.yaml:3: rules[0].fault: duplicate key"]),
    ("rules:\n  - fault: {type: reset\n", ["s.yaml:3: not valid YAML: expected ',' or '}', but got '<stream end>'"]),
    ("", ["s.yaml: the file is empty; a scenario needs `rules:`"]),
    (
        "- just\n- a list\n",
        ["s.yaml:1: a scenario is a mapping with `rules:` (and optional name, description, seed, timeline)"],
    ),
    # Every problem in the file is reported at once, not just the first.
    (
        "rules:\n  - probability: -1\n    fault: {type: nope}\n  - fault: {type: timeout, hang: forever}\n",
        [
            "s.yaml:2: rules[0].probability: Input should be greater than or equal to 0, got -1",
            "s.yaml:3: rules[0].fault.type: unknown fault type 'nope'; allowed: "
            "bad_structured_output, bad_tool_call, content_filter, empty_answer, empty_reply, error, latency, "
            "malformed, overload, rate_limit, refusal, reset, stream_corrupt, stream_cut, stream_error, "
            "stream_slow, stream_stall, timeout, truncate, usage_missing, usage_spike",
            "s.yaml:4: rules[1].fault.hang: expected a duration such as 250ms, 2s, 1.5s, 1m or 1m30s "
            "(a bare number means seconds), got 'forever'",
        ],
    ),
]


TIMED = """\
rules:
  - {name: down, fault: {type: error, kind: cloudflare_html}}
  - {name: slow, probability: 0.5, fault: {type: latency, delay: 5s}}
"""

# Timeline problems: (the `timeline:` block appended to TIMED, the exact problem lines expected)
BAD_TIMELINES = [
    (
        "timeline:\n  phases:\n    - {name: a, duration: 1s, rules: [dwon]}\n",
        ["s.yaml:6: timeline.phases[0].rules[0]: unknown rule 'dwon'; this scenario's rules: down, slow"],
    ),
    (
        "timeline:\n  phases:\n    - {name: a, rules: [down]}\n    - {name: b}\n",
        [
            "s.yaml:6: timeline.phases[0].duration: required key is missing (every phase but the last needs one), "
            "e.g. 30s or 2m"
        ],
    ),
    (
        "timeline:\n  loop: true\n  phases:\n    - {name: a, duration: 1s}\n    - {name: b}\n",
        [
            "s.yaml:8: timeline.phases[1].duration: required key is missing (with `loop: true` every phase needs "
            "one), e.g. 30s or 2m"
        ],
    ),
    (
        "timeline:\n  phases:\n    - name: a\n      duration: 1s\n      rules: [down]\n"
        "      probability: {slow: 0.1}\n    - name: b\n      probability:\n        nope: 0.5\n",
        [
            "s.yaml:9: timeline.phases[0].probability.slow: rule 'slow' is not on in this phase (on: down)",
            "s.yaml:12: timeline.phases[1].probability.nope: unknown rule 'nope'; this scenario's rules: down, slow",
        ],
    ),
    (
        "timeline:\n  phases:\n    - {name: a, duration: 0s}\n",
        ["s.yaml:6: timeline.phases[0].duration: Input should be greater than 0, got '0s'"],
    ),
    (
        "timeline:\n  phases:\n    - {name: a, duration: soon}\n",
        [
            "s.yaml:6: timeline.phases[0].duration: expected a duration such as 250ms, 2s, 1.5s, 1m or 1m30s "
            "(a bare number means seconds), got 'soon'"
        ],
    ),
    (
        "timeline:\n  phases:\n    - name: a\n      probability: {down: 2}\n",
        ["s.yaml:7: timeline.phases[0].probability.down: Input should be less than or equal to 1, got 2"],
    ),
    (
        "timeline:\n  phases:\n    - {name: a, lenght: 1s}\n",
        [
            "s.yaml:6: timeline.phases[0].lenght: unknown key; allowed: name, duration, rules, probability, capacity",
        ],
    ),
    (
        "timeline:\n  phases: []\n",
        ["s.yaml:5: timeline.phases: List should have at least 1 item after validation, not 0"],
    ),
    (
        "timeline:\n  loop: true\n",
        ["s.yaml:4: timeline: a timeline needs `phases` (a list of phases) or `flap` (period and duty), not both"],
    ),
    (
        "timeline:\n  phases:\n    - {duration: 1s}\n",
        ["s.yaml:6: timeline.phases[0].name: required key is missing"],
    ),
]


@pytest.mark.parametrize("block,expected", BAD_TIMELINES)
def test_bad_timelines_name_file_line_and_key(block: str, expected: list[str]) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(TIMED + block, "s.yaml", default_name="s")
    assert str(info.value).splitlines() == expected


def test_timeline_compiles_phases_with_their_rules() -> None:
    text = TIMED + (
        "timeline:\n"
        "  phases:\n"
        "    - {name: healthy, duration: 30s, rules: []}\n"
        "    - {name: outage, duration: 1m, rules: down}\n"
        "    - {name: brownout, duration: 2m, probability: {down: 0.25}}\n"
        "    - {name: recovery, rules: []}\n"
    )
    scenario = parse_scenario(text, "s.yaml", default_name="s")
    assert scenario.timeline is not None and not scenario.timeline.loop
    assert [(p.name, p.duration) for p in scenario.timeline.phases] == [
        ("healthy", 30.0),
        ("outage", 60.0),
        ("brownout", 120.0),
        ("recovery", None),
    ]
    healthy, outage, brownout, recovery = scenario.phase_rules
    assert healthy == () and recovery == ()
    assert [r.name for r in outage] == ["down"]
    assert [(r.name, r.probability) for r in brownout] == [("down", 0.25), ("slow", 0.5)]
    assert [r.probability for r in scenario.rules] == [1.0, 0.5]  # the rules as written are untouched


@pytest.mark.parametrize("text,expected", BAD)
def test_bad_scenarios_name_file_line_and_key(text: str, expected: list[str]) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml", default_name="s")
    lines = str(info.value).splitlines()
    assert len(lines) == len(expected), lines
    for line, want in zip(lines, expected, strict=True):
        if want.endswith(": "):
            assert line.startswith(want), line
        else:
            assert line == want


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot read"):
        load_scenario(tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.yaml")), ids=lambda p: p.stem)
def test_library_scenarios_are_valid(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem, "library file names match scenario names"
    assert scenario.description


def test_json_is_accepted() -> None:
    text = textwrap.dedent('{"name": "j", "rules": [{"fault": {"type": "error", "kind": "overloaded"}}]}')
    assert parse_scenario(text).rules[0].fault == ErrorFault(kind="overloaded")
