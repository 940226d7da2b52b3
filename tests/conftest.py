"""Shared fixtures: ports on loopback, the simulator, and in-process brownout proxies."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

import prom
from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.engine.state import Brownout
from brownout.faults import Fault
from brownout.scenario.compile import parse_scenario
from brownout.sim import SimConfig
from brownout.sim import SimServer
from required_tools import need_tool
from required_tools import pytest_make_collect_report  # noqa: F401 (a hook: no skip where tools are required)
from required_tools import pytest_runtest_makereport  # noqa: F401 (a hook, as above)

PROVIDERS = ("openai", "anthropic", "gemini", "azure")


def chat_flow(model: str = "gpt-4o", stream: bool = False) -> http.HTTPFlow:
    """A live OpenAI chat-completions flow, as mitmproxy's test flows build it."""
    flow = tflow.tflow()
    flow.live = True
    flow.request.host = "api.openai.com"
    flow.request.path = "/v1/chat/completions"
    flow.request.content = json.dumps({"model": model, "stream": stream, "messages": []}).encode()
    return flow


def state_with(text: str) -> Brownout:
    """A state with one scenario, `s`, loaded from `text` and switched on."""
    state = Brownout()
    state.engine.load(parse_scenario(text, "s.yaml", default_name="s"))
    state.activate("s")
    return state


@pytest.fixture
def own_fault_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faults a test defines register into a copy of the registry that ends with the test,
    so no other test (or a scenario error's list of allowed types) ever sees them."""
    monkeypatch.setattr(Fault, "registry", dict(Fault.registry))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int, process: Any = None, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`; fail at once if `process`
    (a Popen) exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process exited {process.returncode} before it listened on {port}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


# A scenario too wide for a table at 80 columns: a 40-character name, a timeline, and a
# description of several sentences written over several lines.
LONG_NAME = "openai-brownout-then-anthropic-overloads"
LONG_SCENARIO = f"""\
name: {LONG_NAME}
description: |
  Half of OpenAI calls fail with 503 for a minute. Then Anthropic answers 529 overloaded
  to most calls, and streams that did start break off. Clients should back off, fall back
  and come back, without hammering either provider while it is down.
rules:
  - {{name: down, fault: {{type: error, status: 503}}}}
timeline:
  phases:
    - {{name: healthy, duration: 30s, rules: []}}
    - {{name: outage, rules: [down]}}
"""


def table_lines(output: str, names: Sequence[str]) -> dict[str, str]:
    """The line of each scenario in a table whose first column is the name (boxed or not),
    asserting each name stands there whole: not cut, not folded onto the next line."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        first = line.lstrip("│┃ ").split(maxsplit=1)
        if first and first[0] in names:
            assert first[0] not in found, f"{first[0]} on two lines:\n{output}"
            found[first[0]] = line
    assert sorted(found) == sorted(names), f"names not whole on a line of their own:\n{output}"
    return found


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[prom.Prometheus]:
    """A real Prometheus, shared by a test module, scraping `127.0.0.1:<prometheus.scrape_port>`
    every second. Each test runs its own proxy with that admin port: `await start_scraped_proxy(
    prometheus, settings)`; then `await prometheus.value(expr)` / `await prometheus.wait_for(expr,
    predicate)`. (Prometheus takes about 6 s to scrape a new target, hence one per module.)
    """
    binary = need_tool("prometheus", "the end-to-end metric tests scrape brownout with a real Prometheus")
    scrape_port = free_port()
    server = prom.Prometheus(binary, tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{scrape_port}"])
    server.scrape_port = scrape_port
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def start_scraped_proxy(
    prometheus: prom.Prometheus, settings: ProxySettings, timeout: float = 10.0
) -> RunningProxy:
    """Start a proxy on the admin port `prometheus` scrapes and wait for its first scrape, so no
    value of an earlier test's proxy is read. Stop it before the next test starts another."""
    settings.admin_port = prometheus.scrape_port
    deadline = time.monotonic() + timeout
    while True:
        started = time.time()
        proxy = RunningProxy(settings)
        try:
            await proxy.start()
            break
        except (OSError, SystemExit):
            # Something held the port for a moment (mitmproxy's errorcheck turns the logged bind
            # error into SystemExit); it is ours again once that closes.
            await proxy.stop()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    await prometheus.wait_scraped_since(started)
    return proxy


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """The simulated upstream, unpaced so tests are quick."""
    async with SimServer(SimConfig(tokens_per_second=0)) as server:
        yield server


StartProxy = Callable[..., Awaitable[RunningProxy]]


@pytest.fixture
async def start_proxy(sim: SimServer, tmp_path: Path) -> AsyncIterator[StartProxy]:
    """Start brownout in front of the simulator; scenarios are YAML texts or library names."""
    running: list[RunningProxy] = []

    async def start(*scenarios: str, **settings: Any) -> RunningProxy:
        refs = []
        for index, scenario in enumerate(scenarios):
            if "\n" in scenario:
                path = tmp_path / f"scenario-{len(running)}-{index}.yaml"
                path.write_text(scenario)
                refs.append(str(path))
            else:
                refs.append(scenario)
        options: dict[str, Any] = {
            "port": 0,
            "admin_port": free_port(),
            "upstreams": [f"{name}={sim.url}/{name}" for name in PROVIDERS],
            "scenarios": refs,
            "termlog": False,
        }
        options.update(settings)
        proxy = RunningProxy(ProxySettings(**options))
        await proxy.start()
        running.append(proxy)
        return proxy

    yield start
    for proxy in running:
        await proxy.stop()


class ProxyProcess:
    """`brownout run` in a process of its own: for CLI tests and timing that must not share a loop."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        import subprocess
        import sys

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        brownout = Path(sys.executable).parent / "brownout"
        # Output goes to a file: an unread pipe would fill up and stall the proxy's event loop.
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [str(brownout), "run", "--port", str(port), *args], stdout=sink, stderr=subprocess.STDOUT, text=True
            )

    async def wait_ready(self, timeout: float = 30.0) -> None:
        try:
            await wait_listening(self.port, self.process, timeout)
        except RuntimeError:
            raise RuntimeError(f"brownout run exited {self.process.returncode}: {self.output()}") from None
        except TimeoutError:
            raise TimeoutError("brownout run did not listen in time") from None

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


StartProcess = Callable[..., Awaitable[ProxyProcess]]


@pytest.fixture
async def start_proxy_process(tmp_path: Path) -> AsyncIterator[StartProcess]:
    started: list[ProxyProcess] = []

    async def start(*args: str, scenario: str | None = None) -> ProxyProcess:
        argv = list(args)
        if scenario is not None:
            path = tmp_path / f"scenario-{len(started)}.yaml"
            path.write_text(scenario)
            argv += ["--scenario", str(path)]
        proxy = ProxyProcess(argv, free_port(), tmp_path / f"brownout-{len(started)}.log")
        started.append(proxy)
        await proxy.wait_ready()
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture(autouse=True)
async def close_sdk_clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Close every async SDK client a test made while its event loop still runs."""
    import anthropic
    import openai

    made: list[Any] = []
    for cls in (openai.AsyncOpenAI, openai.AsyncAzureOpenAI, anthropic.AsyncAnthropic):
        original = cls.__init__

        def tracking(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            made.append(self)

        monkeypatch.setattr(cls, "__init__", tracking)
    yield
    for client in made:
        await client.close()
