"""mitmproxy commands to switch scenarios from mitmproxy's own interfaces.

In the console: `:brownout.activate openai-total-outage`, `:brownout.clear`; in mitmweb through
its command API; in scripts with `ctx.master.commands.call("brownout.activate", name)`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from mitmproxy import command
from mitmproxy import exceptions
from mitmproxy import types

from brownout.control import actions as control
from brownout.engine.engine import UnknownScenario
from brownout.engine.state import Brownout
from brownout.scenario.compile import read_scenario_text
from brownout.scenario.yaml_lines import ScenarioError

log = logging.getLogger(__name__)


class Commands:
    def __init__(self, state: Brownout) -> None:
        self.state = state

    def _switch(self, name: str, on: bool) -> None:
        try:
            self.state.activate(name) if on else self.state.deactivate(name)
        except UnknownScenario as exc:
            raise exceptions.CommandError(str(exc)) from None

    @command.command("brownout.activate")
    def activate(self, name: str) -> None:
        """Switch a loaded scenario on."""
        self._switch(name, True)

    @command.command("brownout.deactivate")
    def deactivate(self, name: str) -> None:
        """Switch a scenario off."""
        self._switch(name, False)

    @command.command("brownout.toggle")
    def toggle(self, name: str) -> None:
        """Switch a scenario on when it is off, off when it is on."""
        self._switch(name, not self.state.engine.is_active(name))

    @command.command("brownout.clear")
    def clear(self) -> None:
        """Switch every scenario off."""
        self.state.clear()

    @command.command("brownout.scenarios")
    def scenarios(self) -> Sequence[str]:
        """The names of the loaded scenarios."""
        return sorted(self.state.engine.scenarios)

    @command.command("brownout.active")
    def active(self) -> Sequence[str]:
        """The scenarios switched on, in the order their rules are tried."""
        return self.state.engine.active

    @command.command("brownout.status")
    def status(self) -> str:
        """One line: the active scenarios with their timeline phase, and the counters."""
        now = control.status(self.state)
        parts = []
        for scenario in now["active"]:
            timeline = scenario["timeline"]
            phase = "" if timeline is None else f" [{'ended' if timeline['ended'] else timeline['phase']}]"
            parts.append(scenario["name"] + phase)
        counters = now["counters"]
        line = (
            f"active: {', '.join(parts) or 'none'}; requests {counters['requests']}, "
            f"faults {counters['faults_injected']}"
        )
        if now["errors"]:
            files = ", ".join(e["file"] for e in now["errors"])
            line += f"; scenario files with rejected edits: {files}"
        return line

    @command.command("brownout.load")
    def load_file(self, path: types.Path) -> None:
        """Load (or replace) a scenario from a file; an active scenario stays on."""
        try:
            control.load_text(self.state, read_scenario_text(Path(path)), str(path))
        except ScenarioError as exc:  # unreadable, too large, or invalid
            raise exceptions.CommandError(str(exc)) from None
