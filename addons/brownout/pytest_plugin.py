"""brownout's pytest plugin (entry point `pytest11: brownout`): the `brownout` fixture.

    def test_my_client_honours_retry_after(brownout):
        client = anthropic.Anthropic()  # ANTHROPIC_BASE_URL points at brownout for this test
        with brownout.scenario("anthropic-529-storm"):
            ...  # the code under test
        assert brownout.report().verdict("retry_after") == "pass"

The fixture runs brownout (and by default the built-in simulator behind it) in this process, on
free loopback ports, in a thread with an event loop of its own, once per test module; each test
starts with no scenario on and an empty record, and with the SDKs' environment (`OPENAI_BASE_URL`,
`ANTHROPIC_BASE_URL`, `GOOGLE_GEMINI_BASE_URL`, and placeholder API keys where none are set)
pointing at it. `brownout_upstreams` in the pytest ini (`NAME=URL` lines) sends a provider to a
real server instead of the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import warnings
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import pytest

if TYPE_CHECKING:
    # Imported when a test asks for the fixture, so pytest runs that never use it load no mitmproxy.
    from brownout.cli.runner import RunningProxy
    from brownout.report.build import Report
    from brownout.scenario.model import Scenario
    from brownout.sim import SimServer

T = TypeVar("T")
PROVIDERS = ("openai", "anthropic", "gemini", "azure")
PLACEHOLDER_KEYS = {
    "OPENAI_API_KEY": "sk-brownout-test",
    "ANTHROPIC_API_KEY": "sk-ant-brownout-test",
    "GEMINI_API_KEY": "brownout-test",
}


class BrownoutServer:
    """brownout and the simulator on a loop of their own, in a thread."""

    def __init__(self, upstreams: list[str], retry_window: str = "") -> None:
        self.overrides = upstreams
        self.retry_window = retry_window
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="brownout-pytest", daemon=True)
        self.sim: SimServer | None = None
        self.proxy: RunningProxy | None = None
        self.startup_seconds = 0.0

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def start(self) -> None:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # mitmproxy's dependencies' own
            import brownout.cli.runner  # noqa: F401
        self.thread.start()
        self.call(self._start)
        self.startup_seconds = time.perf_counter() - started

    async def _start(self) -> None:
        from brownout.cli.runner import ProxySettings
        from brownout.cli.runner import RunningProxy
        from brownout.sim import SimConfig
        from brownout.sim import SimServer

        named = {value.partition("=")[0] for value in self.overrides}
        upstreams = list(self.overrides)
        if set(PROVIDERS) - named:
            self.sim = SimServer(SimConfig(tokens_per_second=0))
            await self.sim.start()
            upstreams += [f"{name}={self.sim.url}/{name}" for name in PROVIDERS if name not in named]
        extra = {"brownout_retry_window": self.retry_window} if self.retry_window else {}
        self.proxy = RunningProxy(
            ProxySettings(port=0, admin_port=0, upstreams=upstreams, termlog=False, watch=False, extra_options=extra)
        )
        await self.proxy.start()

    def stop(self) -> None:
        async def stop() -> None:
            if self.proxy is not None:
                await self.proxy.stop()
            if self.sim is not None:
                await self.sim.close()

        with contextlib.suppress(Exception):
            self.call(stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        assert self.proxy is not None
        return self.proxy.url


class Brownout:
    """What a test holds: the proxy's address, scenario switches, and the report."""

    def __init__(self, server: BrownoutServer) -> None:
        self._server = server

    @property
    def url(self) -> str:
        """The proxy: `{url}/openai/v1`, `{url}/anthropic`, `{url}/gemini`, `{url}/azure/<host>`."""
        return self._server.url

    @property
    def startup_seconds(self) -> float:
        return self._server.startup_seconds

    def env(self) -> dict[str, str]:
        """The SDKs' environment pointing at brownout (the fixture sets it for each test)."""
        return {
            "OPENAI_BASE_URL": f"{self.url}/openai/v1",
            "ANTHROPIC_BASE_URL": f"{self.url}/anthropic",
            "GOOGLE_GEMINI_BASE_URL": f"{self.url}/gemini",
        }

    def _state(self) -> Any:
        assert self._server.proxy is not None
        return self._server.proxy.state

    def _on_loop(self, action: Callable[[], T]) -> T:
        async def run() -> T:
            return action()

        return self._server.call(run)

    def activate(self, scenario: str) -> str:
        """Switch a scenario on: a library name, a file, or a scenario's YAML text; returns its name."""
        loaded = _scenario(scenario)

        def switch() -> str:
            state = self._state()
            state.load(loaded)
            state.activate(loaded.name)
            return loaded.name

        return self._on_loop(switch)

    def deactivate(self, name: str) -> None:
        self._on_loop(lambda: self._state().deactivate(name))

    def clear(self) -> None:
        self._on_loop(lambda: self._state().clear())

    @contextlib.contextmanager
    def scenario(self, scenario: str) -> Iterator[str]:
        """The scenario on for the `with` block."""
        name = self.activate(scenario)
        try:
            yield name
        finally:
            self.deactivate(name)

    def report(self) -> Report:
        """The verdicts on everything the test's clients did so far (open windows closed)."""
        from brownout.report.build import Report
        from brownout.report.build import build

        snapshot = self._on_loop(lambda: self._state().record.snapshot())
        return Report(build(snapshot))

    def reset(self) -> None:
        """No scenario on, an empty record: what each test starts with."""

        def reset() -> None:
            state = self._state()
            state.clear()
            state.record.clear()

        self._on_loop(reset)


def _scenario(ref: str) -> Scenario:
    from brownout.scenario.compile import load_scenario
    from brownout.scenario.compile import parse_scenario
    from brownout.scenario.library import resolve_scenario_ref

    if "\n" in ref:
        return parse_scenario(ref, "<test>", default_name="test")
    return load_scenario(resolve_scenario_ref(ref))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "brownout_upstreams", "NAME=URL upstreams for the brownout fixture (default: the simulator)", "linelist"
    )
    parser.addini("brownout_retry_window", "the brownout fixture's retry window (default 30s)", "string", default="")


@pytest.fixture(scope="module")
def brownout_server(request: pytest.FixtureRequest) -> Iterator[BrownoutServer]:
    server = BrownoutServer(
        list(request.config.getini("brownout_upstreams")), str(request.config.getini("brownout_retry_window"))
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def brownout(brownout_server: BrownoutServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Brownout]:
    handle = Brownout(brownout_server)
    handle.reset()
    for name, value in handle.env().items():
        monkeypatch.setenv(name, value)
    if brownout_server.sim is not None:
        for name, value in PLACEHOLDER_KEYS.items():
            if name not in os.environ:
                monkeypatch.setenv(name, value)
    yield handle
    handle.reset()
