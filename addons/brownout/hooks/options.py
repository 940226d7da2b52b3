"""mitmproxy options for brownout, and what changing them does to the shared state.

Options make brownout configurable the mitmproxy way: `--set brownout_scenarios=...` on
mitmdump, `:set` in the console, the Options page in mitmweb.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

from mitmproxy import exceptions

from brownout.classify.routing import RouteTable
from brownout.classify.routing import RoutingError
from brownout.classify.routing import parse_upstream_arg
from brownout.classify.upstream_providers import ProviderMap
from brownout.classify.upstream_providers import parse_provider_rule
from brownout.engine.state import Brownout
from brownout.scenario.library import library_dir
from brownout.scenario.library import load_startup
from brownout.scenario.yaml_lines import ScenarioError

log = logging.getLogger(__name__)


class Config:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        # The scenarios this option switched on: dropping one from the option switches it off.
        self._chosen: list[str] = []

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "brownout_scenarios",
            Sequence[str],
            [],
            "Scenario files or library names to load and switch on.",
        )
        loader.add_option(
            "brownout_library",
            str,
            "",
            "Directory of scenarios loaded (switched off) at start; empty: the built-in library.",
        )
        loader.add_option(
            "brownout_upstreams",
            Sequence[str],
            [],
            "Upstream overrides as NAME=URL, e.g. openai=http://127.0.0.1:9000/openai; "
            "a new NAME adds the prefix /NAME for an OpenAI-compatible server.",
        )
        loader.add_option(
            "brownout_providers",
            Sequence[str],
            [],
            "Which provider an upstream is, as HOST[:PORT][/PATH]=PROVIDER (HOST may be *), "
            "e.g. 127.0.0.1:9000/anthropic=anthropic; for requests not sent through a path prefix.",
        )
        loader.add_option(
            "brownout_models",
            Sequence[str],
            [],
            "Models reported by name in metric labels; others are 'other'. Empty: the first 20 distinct models seen.",
        )

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx

        if "brownout_upstreams" in updated:
            self.state.routes = RouteTable(_each("brownout_upstreams", parse_upstream_arg))
        if "brownout_providers" in updated:
            self.state.providers = ProviderMap(_each("brownout_providers", parse_provider_rule))
        if "brownout_models" in updated and ctx.options.brownout_models:
            self.state.metrics.models.allow = set(ctx.options.brownout_models)
            self.state.metrics.models.fixed = True
        if updated & {"brownout_scenarios", "brownout_library"}:
            self._load_scenarios(ctx.options.brownout_library, ctx.options.brownout_scenarios)

    def _load_scenarios(self, library: str, refs: Sequence[str]) -> None:
        directory = Path(library) if library else library_dir()
        try:
            # Validate everything first: a broken file leaves the running state untouched.
            library_scenarios, chosen = load_startup(directory, refs)
        except ScenarioError as exc:
            raise exceptions.OptionsError(f"brownout: invalid scenario\n{exc}") from exc
        engine = self.state.engine
        for scenario in [*library_scenarios, *chosen]:
            engine.load(scenario)
        names = [scenario.name for scenario in chosen]
        for name in self._chosen:
            if name not in names and engine.is_active(name):
                self.state.deactivate(name)
        for name in names:
            self.state.activate(name)
        self._chosen = names
        self.state.sync_gauges()
        if chosen:
            log.info("brownout: active scenarios: %s", ", ".join(engine.active))


def _each[T](option: str, parse: Callable[[str], T]) -> list[T]:
    """Each value of a list option, parsed; a bad one stops the (re)configuration with its reason."""
    from mitmproxy import ctx

    try:
        return [parse(value) for value in getattr(ctx.options, option)]
    except RoutingError as exc:
        raise exceptions.OptionsError(f"{option}: {exc}") from exc
