from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from brownout.engine.state import Brownout
from brownout.hooks.options import Config


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_scenarios_option_loads_the_library_and_switches_on_the_chosen(tmp_path: Path) -> None:
    state = Brownout()
    config = Config(state)
    lib = tmp_path / "lib"
    lib.mkdir()
    write(lib / "off.yaml", "rules:\n  - fault: {type: reset}\n")
    chosen = write(tmp_path / "on.yaml", "rules:\n  - fault: {type: empty_reply}\n")
    with taddons.context(config) as tctx:
        tctx.configure(config, brownout_library=str(lib), brownout_scenarios=[chosen, "off"])
    assert set(state.engine.scenarios) == {"off", "on"}
    assert state.engine.active == ["on", "off"]
    assert state.metrics.registry.get_sample_value("brownout_scenario_active", {"scenario": "on"}) == 1


def test_the_library_holds_yaml_and_json_files_alike(tmp_path: Path) -> None:
    # The watcher reloads *.json files of the library too: they must be there from the start.
    state = Brownout()
    config = Config(state)
    write(tmp_path / "a.yaml", "rules:\n  - fault: {type: reset}\n")
    write(tmp_path / "b.yml", "rules:\n  - fault: {type: reset}\n")
    write(tmp_path / "c.json", '{"rules": [{"fault": {"type": "empty_reply"}}]}')
    write(tmp_path / "notes.txt", "not a scenario")
    with taddons.context(config) as tctx:
        tctx.configure(config, brownout_library=str(tmp_path))
    assert sorted(state.engine.scenarios) == ["a", "b", "c"]


def test_a_broken_scenario_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    state = Brownout()
    config = Config(state)
    good = write(tmp_path / "good.yaml", "rules:\n  - fault: {type: reset}\n")
    bad = write(tmp_path / "bad.yaml", "rules:\n  - fault: {type: reset, after: never}\n")
    with taddons.context(config) as tctx:
        tctx.configure(config, brownout_library=str(tmp_path / "none"), brownout_scenarios=[good])
        with pytest.raises(
            exceptions.OptionsError, match=r"bad\.yaml:2: rules\[0\]\.fault\.after: expected a duration"
        ):
            tctx.configure(config, brownout_scenarios=[good, bad])
        assert tctx.options.brownout_scenarios == [good]  # mitmproxy rolled the option back
    assert state.engine.active == ["good"] and "bad" not in state.engine.scenarios


def test_library_names_resolve(tmp_path: Path) -> None:
    state = Brownout()
    config = Config(state)
    with taddons.context(config) as tctx:
        tctx.configure(config, brownout_scenarios=["anthropic-529-storm"])
        with pytest.raises(exceptions.OptionsError, match="no library scenario of that name"):
            tctx.configure(config, brownout_scenarios=["no-such-scenario"])
    assert state.engine.active == ["anthropic-529-storm"]


def test_upstreams_option(tmp_path: Path) -> None:
    state = Brownout()
    config = Config(state)
    with taddons.context(config) as tctx:
        tctx.configure(config, brownout_upstreams=["openai=http://127.0.0.1:9000/openai"])
        assert state.routes.upstreams["openai"].url == "http://127.0.0.1:9000/openai"
        with pytest.raises(exceptions.OptionsError, match="expected NAME=URL"):
            tctx.configure(config, brownout_upstreams=["nonsense"])
    assert state.routes.upstreams["openai"].port == 9000


def test_model_allow_list() -> None:
    state = Brownout()
    config = Config(state)
    with taddons.context(config) as tctx:
        tctx.configure(config, brownout_models=["gpt-4o"])
    assert state.metrics.models("gpt-4o") == "gpt-4o"
    assert state.metrics.models("gpt-5") == "other"


def test_dropping_a_scenario_from_the_option_switches_it_off(tmp_path: Path) -> None:
    state = Brownout()
    config = Config(state)
    lib = tmp_path / "lib"
    lib.mkdir()
    write(lib / "a.yaml", "rules:\n  - fault: {type: reset}\n")
    write(lib / "b.yaml", "rules:\n  - fault: {type: empty_reply}\n")
    write(lib / "c.yaml", "rules:\n  - fault: {type: timeout}\n")
    with taddons.context(config) as tctx:
        tctx.configure(config, brownout_library=str(lib), brownout_scenarios=["a", "b"])
        state.activate("c")  # switched on another way (API, command): the option leaves it alone
        tctx.configure(config, brownout_scenarios=["b"])
        assert state.engine.active == ["b", "c"]
        tctx.configure(config, brownout_scenarios=[])
        assert state.engine.active == ["c"]


def library_of(tmp_path: Path, files: dict[str, str]) -> Path:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name, text in files.items():
        write(lib / name, text)
    return lib


def test_two_files_with_one_name_stop_the_start_naming_both(tmp_path: Path) -> None:
    state = Brownout()
    config = Config(state)
    lib = library_of(
        tmp_path,
        {
            "a.yaml": "name: storm\nrules:\n  - fault: {type: reset}\n",
            "b.yaml": "description: another\nname: storm\nrules:\n  - fault: {type: timeout}\n",
        },
    )
    with taddons.context(config) as tctx:
        with pytest.raises(exceptions.OptionsError) as info:
            tctx.configure(config, brownout_library=str(lib))
    assert str(info.value).splitlines()[1] == (
        f"{lib / 'b.yaml'}:2: name: scenario 'storm' is also defined in {lib / 'a.yaml'}; one name, one file "
        "(set another `name:`)"
    )
    assert "storm" not in state.engine.scenarios  # nothing of the refused library was loaded


def test_a_chosen_file_may_not_take_a_library_name(tmp_path: Path) -> None:
    state = Brownout()
    lib = library_of(tmp_path, {"storm.yaml": "rules:\n  - fault: {type: reset}\n"})
    mine = write(tmp_path / "storm.yaml", "rules:\n  - fault: {type: timeout}\n")
    with taddons.context(config := Config(state)) as tctx:
        with pytest.raises(exceptions.OptionsError, match=r"storm\.yaml:1: name: scenario 'storm' is also defined in"):
            tctx.configure(config, brownout_library=str(lib), brownout_scenarios=[mine])
        # The library's own file, named or by path, is no duplicate of itself.
        tctx.configure(config, brownout_library=str(lib), brownout_scenarios=["storm", str(lib / "storm.yaml")])
    assert state.engine.active == ["storm"]
