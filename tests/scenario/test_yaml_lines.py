"""Reading scenario YAML with bounded work: alias bombs, deep nesting, huge texts and numbers are
refused with a located problem, quickly, and never as another exception."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from brownout.scenario.compile import load_scenario
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import DEEPEST
from brownout.scenario.yaml_lines import LARGEST_TEXT
from brownout.scenario.yaml_lines import MOST_NODES
from brownout.scenario.yaml_lines import ScenarioError
from brownout.scenario.yaml_lines import parse_yaml


def billion_laughs(levels: int = 9) -> str:
    """Each level a list of nine aliases of the one before: 9**levels strings from ~400 bytes."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * 9) + "]")
    return "rules:\n  - fault: {type: reset}\n" + "\n".join(lines) + "\n"


def refused(text: str) -> tuple[list[str], float, int]:
    """The problem lines, the seconds it took and the peak bytes allocated."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ScenarioError) as info:
            parse_scenario(text, "s.yaml", default_name="s")
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return str(info.value).splitlines(), seconds, peak


@pytest.mark.parametrize("levels", [6, 9, 12])
def test_an_alias_bomb_is_refused_at_once(levels: int) -> None:
    text = billion_laughs(levels)
    assert len(text) < 700
    lines, seconds, peak = refused(text)
    assert len(lines) == 1
    assert lines[0].startswith("s.yaml:7: l4[0]: more than 10000 values, counting each alias as the values it repeats")
    # Refused before expanding: milliseconds (a generous bound for a loaded CI machine) and
    # well under a megabyte, where expanding nine levels takes seconds and gigabytes.
    assert seconds < 0.25 and peak < 2_000_000, (seconds, peak)


def test_aliases_within_the_budget_still_work() -> None:
    text = (
        "rules:\n"
        "  - {name: a, match: &chat {provider: openai, endpoint: chat}, fault: {type: reset}}\n"
        "  - {name: b, match: *chat, fault: {type: empty_reply}}\n"
    )
    scenario = parse_scenario(text, "s.yaml", default_name="s")
    assert scenario.rules[0].match == scenario.rules[1].match


def test_the_budget_counts_expanded_nodes_not_text() -> None:
    # Without aliases, as many nodes as the budget allows pass; one alias repeating them does not.
    items = ", ".join(["1"] * (MOST_NODES // 2 - 10))
    data, _ = parse_yaml(f"a: &a [{items}]\n", "s.yaml")
    assert isinstance(data, dict) and len(data["a"]) == MOST_NODES // 2 - 10
    with pytest.raises(ScenarioError, match=r"s\.yaml:3: c: more than 10000 values"):
        parse_yaml(f"a: &a [{items}]\nb: *a\nc: *a\n", "s.yaml")


@pytest.mark.parametrize(
    "text,first_line",
    [
        ("rules: " + "[" * 5000 + "]" * 5000 + "\n", "s.yaml:1: rules: nested more than 32 levels deep"),
        (
            "rules:\n  - fault: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
            "s.yaml:2: rules[0].fault.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a: nested more than 32",
        ),
        (
            "".join("  " * depth + "a:\n" for depth in range(200)),
            "s.yaml:33: a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a: nested more than 32",
        ),
        (
            "".join("  " * depth + "-\n" for depth in range(200)),
            "s.yaml:33: [0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
            "[0]: nested more than 32",
        ),
    ],
    ids=["flow-lists", "flow-maps", "block-maps", "block-lists"],
)
def test_deep_nesting_is_refused_with_its_line_and_key(text: str, first_line: str) -> None:
    lines, seconds, _ = refused(text)
    assert lines[0].startswith(first_line), lines
    assert seconds < 0.25, seconds


def test_nesting_up_to_the_limit_is_read() -> None:
    nested = "[" * (DEEPEST - 1) + "]" * (DEEPEST - 1)
    data, _ = parse_yaml(f"a: {nested}\n", "s.yaml")
    assert isinstance(data, dict)


def test_aliases_cannot_nest_deeper_than_the_text_does() -> None:
    half = "[" * 20 + "1" + "]" * 20
    with pytest.raises(ScenarioError, match=r"s\.yaml:2: b(\[0\])+: nested more than 32 levels deep once its aliases"):
        parse_yaml(f"a: &a {half}\nb: {'[' * 19}*a{']' * 19}\n", "s.yaml")


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a [[[*a]]]\n"])
def test_a_recursive_alias_is_refused(text: str) -> None:
    with pytest.raises(ScenarioError, match=r"an alias inside the node it names \(a recursive structure\)"):
        parse_yaml(text, "s.yaml")


@pytest.mark.parametrize(
    "text,line",
    [
        ("seed: " + "9" * 5000 + "\nrules:\n  - fault: {type: reset}\n", "s.yaml:1: seed: a number written with"),
        ("seed: " + "1:" * 3000 + "1\nrules:\n  - fault: {type: reset}\n", "s.yaml:1: seed: a number written with"),
        (
            "description: 2001-02-30\nrules:\n  - fault: {type: reset}\n",
            "s.yaml:1: description: cannot read this value (day is out of range for month)",
        ),
    ],
    ids=["5000-digits", "sexagesimal", "no-such-date"],
)
def test_values_python_cannot_read_are_located_problems(text: str, line: str) -> None:
    lines, seconds, _ = refused(text)
    assert lines[0].startswith(line), lines
    assert seconds < 0.25


def test_a_text_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    big = "description: " + "x" * LARGEST_TEXT + "\nrules:\n  - fault: {type: reset}\n"
    with pytest.raises(
        ScenarioError, match=r"^s\.yaml: too large \(\d+ bytes or more\); a scenario is at most 256 KiB$"
    ):
        parse_scenario(big, "s.yaml", default_name="s")
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(ScenarioError, match=r"big\.yaml: too large \(262145 bytes or more\)"):
        load_scenario(path)


def test_a_device_is_read_no_further_than_the_limit() -> None:
    started = time.perf_counter()
    with pytest.raises(ScenarioError, match="too large"):
        load_scenario("/dev/zero")
    assert time.perf_counter() - started < 1


def test_many_problems_are_listed_and_the_message_is_cut() -> None:
    text = "rules:\n" + "".join("  - fault: {type: nope}\n" for _ in range(80))
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml", default_name="s")
    assert len(info.value.problems) == 80
    lines = str(info.value).splitlines()
    assert len(lines) == 51 and lines[-1] == "... and 30 more problems"
