from pathlib import Path

import pytest

from brownout.classify.request import RequestInfo
from brownout.control import actions as control
from brownout.engine.state import Brownout
from brownout.scenario.compile import load_scenario
from brownout.scenario.yaml_lines import ScenarioError

CHAT = RequestInfo("openai", "chat", "gpt-4o", False)


def state_with_file(path: Path, text: str, on: bool = True) -> Brownout:
    path.write_text(text)
    state = Brownout()
    state.load(load_scenario(path))
    if on:
        state.activate(path.stem)
    return state


def test_a_valid_edit_replaces_the_running_version(tmp_path: Path) -> None:
    path = tmp_path / "storm.yaml"
    state = state_with_file(path, "rules:\n  - fault: {type: error, status: 503}\n")
    path.write_text("rules:\n  - fault: {type: error, status: 529}\n")
    scenario = control.reload_file(state, path)
    assert scenario is not None and state.engine.is_active("storm")
    assert state.engine.choose(CHAT).fault.status == 529  # type: ignore[union-attr]
    assert state.metrics.registry.get_sample_value("brownout_scenario_file_ok", {"file": str(path)}) == 1


def test_a_broken_edit_keeps_the_old_version_and_reports_why(tmp_path: Path) -> None:
    path = tmp_path / "storm.yaml"
    state = state_with_file(path, "rules:\n  - fault: {type: error, status: 503}\n")
    path.write_text("rules:\n  - fault: {type: error, status: 503, retry_after: soon}\n")
    assert control.reload_file(state, path) is None
    assert state.engine.choose(CHAT).fault.status == 503  # type: ignore[union-attr]
    problem = f"{path}:2: rules[0].fault.retry_after: expected a duration"
    assert state.file_errors[str(path)].startswith(problem)
    status = control.status(state)
    assert status["errors"][0]["file"] == str(path) and status["errors"][0]["error"].startswith(problem)
    registry = state.metrics.registry
    assert registry.get_sample_value("brownout_scenario_reload_errors_total", {"file": str(path)}) == 1
    assert registry.get_sample_value("brownout_scenario_file_ok", {"file": str(path)}) == 0
    # Fixing the file clears the error.
    path.write_text("rules:\n  - fault: {type: error, status: 500}\n")
    assert control.reload_file(state, path) is not None
    assert state.file_errors == {} and control.status(state)["errors"] == []
    assert registry.get_sample_value("brownout_scenario_file_ok", {"file": str(path)}) == 1


def test_renaming_the_scenario_in_its_file_carries_the_switch_over(tmp_path: Path) -> None:
    path = tmp_path / "storm.yaml"
    state = state_with_file(path, "rules:\n  - fault: {type: reset}\n")
    path.write_text("name: tempest\nrules:\n  - fault: {type: reset}\n")
    control.reload_file(state, path)
    assert set(state.engine.scenarios) == {"tempest"} and state.engine.active == ["tempest"]
    assert state.metrics.registry.get_sample_value("brownout_scenario_active", {"scenario": "storm"}) is None


def test_a_new_file_loads_switched_off(tmp_path: Path) -> None:
    state = Brownout()
    path = tmp_path / "fresh.yaml"
    path.write_text("rules:\n  - fault: {type: reset}\n")
    control.reload_file(state, path)
    assert "fresh" in state.engine.scenarios and state.engine.active == []


def test_status_counts_requests_and_faults() -> None:
    state = Brownout()
    control.load_text(state, "name: s\ndescription: d\nrules:\n  - fault: {type: reset}\n", activate=True)
    state.metrics.requests.labels(provider="openai", endpoint="chat", model="gpt-4o", code="200").inc(3)
    state.metrics.requests.labels(provider="openai", endpoint="chat", model="gpt-4o", code="reset").inc()
    state.metrics.faults.labels(scenario="s", rule="reset", fault="reset", provider="openai").inc()
    status = control.status(state)
    assert status["counters"] == {
        "requests": 4,
        "requests_by_code": {"200": 3, "reset": 1},
        "faults_injected": 1,
        "faults_by_scenario": {"s": 1},
        "fault_errors": 0,
    }
    assert status["active"][0]["name"] == "s" and status["active"][0]["description"] == "d"


def test_load_text_refuses_and_changes_nothing() -> None:
    state = Brownout()
    with pytest.raises(ScenarioError, match="upload:3: rules\\[0\\].fault.type: unknown fault type"):
        control.load_text(state, "name: s\nrules:\n  - fault: {type: explode}\n")
    assert state.engine.scenarios == {}


def test_an_edit_may_not_take_the_name_of_another_files_scenario(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    state = state_with_file(one, "rules:\n  - fault: {type: error, status: 503}\n")
    two.write_text("rules:\n  - fault: {type: reset}\n")
    control.reload_file(state, two)
    two.write_text("name: one\nrules:\n  - fault: {type: reset}\n")
    assert control.reload_file(state, two) is None
    assert state.file_errors[str(two)] == (
        f"{two}:1: name: scenario 'one' is also defined in {one}; one name, one file (set another `name:`)"
    )
    assert set(state.engine.scenarios) == {"one", "two"} and state.engine.scenarios["one"].source == str(one)
    assert state.engine.choose(CHAT).fault.status == 503  # type: ignore[union-attr]


def test_two_files_may_swap_their_names(tmp_path: Path) -> None:
    # Both edits land in one batch: when the first is applied, the other file already says its new name.
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    state = state_with_file(one, "name: a\nrules:\n  - fault: {type: reset}\n", on=False)
    two.write_text("name: b\nrules:\n  - fault: {type: timeout}\n")
    control.reload_file(state, two)
    one.write_text("name: b\nrules:\n  - fault: {type: reset}\n")
    two.write_text("name: a\nrules:\n  - fault: {type: timeout}\n")
    assert control.reload_file(state, one) is not None and control.reload_file(state, two) is not None
    assert {name: s.source for name, s in state.engine.scenarios.items()} == {"b": str(one), "a": str(two)}
    assert state.file_errors == {}


@pytest.mark.parametrize(
    "source",
    [
        "forged\r\nbrownout: scenario evil on",
        "nul\x00.yaml",
        "bidi-\u202egnp.yaml",
        "x" * 3000 + ".yaml",
        "",
    ],
    ids=["crlf", "nul", "bidi", "3000-chars", "empty"],
)
def test_an_upload_source_that_could_forge_a_log_line_is_refused(source: str) -> None:
    state = Brownout()
    with pytest.raises(ScenarioError) as info:
        control.load_text(state, "name: fine\nrules:\n  - fault: {type: reset}\n", source)
    (line,) = str(info.value).splitlines()
    assert line.startswith("upload: source: not a valid source (at most 1024 printable characters")
    assert "\r" not in line and "\x00" not in line and "\u202e" not in line and len(line) < 300
    assert state.engine.scenarios == {}


@pytest.mark.parametrize(
    "source", ["..yaml", "...yaml", ".hidden.yaml", "with space.yaml", "ünï.yaml", "a" * 101 + ".yaml"]
)
def test_a_name_from_the_source_follows_the_name_rule(source: str) -> None:
    state = Brownout()
    with pytest.raises(
        ScenarioError, match=r"1: name: not a valid name \(letters, digits, .*\(the file's name\); set `name:`"
    ):
        control.load_text(state, "rules:\n  - fault: {type: reset}\n", source)
    # With a name of its own, the source is only a label.
    assert control.load_text(state, "name: ok\nrules:\n  - fault: {type: reset}\n", source).scenario.name == "ok"


def test_a_scenario_loaded_as_text_is_announced_before_it_is_switched_on() -> None:
    # A fleet shares the text first, then that it is on, so other replicas know what to switch.
    state = Brownout()
    heard: list[str] = []
    state.upload_listeners.append(lambda scenario: heard.append(f"loaded {scenario.name}"))
    state.listeners.append(lambda switch: heard.append(f"on {switch.scenario}"))
    control.load_text(state, "rules:\n  - fault: {type: error, status: 503}\n", "storm.yaml", activate=True)
    assert heard == ["loaded storm", "on storm"]
