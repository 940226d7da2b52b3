from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from brownout.engine.state import Brownout
from brownout.hooks.commands import Commands
from brownout.scenario.compile import parse_scenario


def loaded() -> Brownout:
    state = Brownout()
    state.load(parse_scenario("name: outage\nrules:\n  - fault: {type: error, status: 503}\n"))
    state.load(
        parse_scenario(
            "name: replay\nrules:\n  - {name: down, fault: {type: reset}}\n"
            "timeline:\n  phases:\n    - {name: healthy, duration: 1m, rules: []}\n    - {name: outage}\n"
        )
    )
    return state


def test_switch_scenarios_like_the_console_does() -> None:
    state = loaded()
    commands = Commands(state)
    with taddons.context(commands) as tctx:
        tctx.command(commands.activate, "outage")
        assert state.engine.active == ["outage"]
        tctx.command(commands.toggle, "replay")
        assert state.engine.active == ["outage", "replay"]
        assert tctx.command(commands.active) == ["outage", "replay"]
        assert tctx.command(commands.scenarios) == ["outage", "replay"]
        assert tctx.command(commands.status) == "active: outage, replay [healthy]; requests 0, faults 0"
        tctx.command(commands.toggle, "replay")
        tctx.command(commands.deactivate, "outage")
        assert state.engine.active == []
        tctx.command(commands.activate, "outage")
        tctx.command(commands.clear)
        assert state.engine.active == []
        assert tctx.command(commands.status) == "active: none; requests 0, faults 0"


def test_commands_are_registered_under_their_names() -> None:
    state = loaded()
    commands = Commands(state)
    with taddons.context(commands) as tctx:
        tctx.master.commands.call_strings("brownout.activate", ["outage"])
        assert state.engine.active == ["outage"]
        tctx.master.commands.execute("brownout.deactivate outage")
        assert state.engine.active == []


def test_unknown_names_are_command_errors() -> None:
    commands = Commands(loaded())
    with taddons.context(commands) as tctx:
        with pytest.raises(exceptions.CommandError, match="unknown scenario 'nope'; loaded: outage, replay"):
            tctx.command(commands.activate, "nope")
        with pytest.raises(exceptions.CommandError, match="unknown scenario 'nope'"):
            tctx.command(commands.deactivate, "nope")


def test_load_a_file(tmp_path: Path) -> None:
    state = loaded()
    commands = Commands(state)
    good = tmp_path / "fresh.yaml"
    good.write_text("rules:\n  - fault: {type: reset}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - fault: {type: reset, after: later}\n")
    with taddons.context(commands) as tctx:
        tctx.command(commands.load_file, str(good))
        assert "fresh" in state.engine.scenarios
        with pytest.raises(exceptions.CommandError, match=r"bad\.yaml:2: rules\[0\]\.fault\.after"):
            tctx.command(commands.load_file, str(bad))
        with pytest.raises(exceptions.CommandError, match="cannot read"):
            tctx.command(commands.load_file, str(tmp_path / "missing.yaml"))


def test_load_reads_no_further_than_a_scenario_may_be() -> None:
    state = loaded()
    commands = Commands(state)
    with taddons.context(commands) as tctx:
        with pytest.raises(exceptions.CommandError, match=r"^/dev/zero: too large \(262145 bytes or more\)"):
            tctx.command(commands.load_file, "/dev/zero")
    assert sorted(state.engine.scenarios) == ["outage", "replay"]
