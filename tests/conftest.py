"""Shared fixtures: ports on loopback, the simulator, and an in-process brownout proxy."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

import prom
from brownout.runner import ProxySettings
from brownout.runner import RunningProxy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_tool(name: str, why: str) -> str:
    """The path of an OS tool; skips the test without it, but fails under CI / BROWNOUT_REQUIRE_PROMETHEUS."""
    path = prom.find_tool(name)
    if path is None:
        message = f"`{name}` not on PATH ({why}); Debian/Ubuntu: apt-get install prometheus"
        if prom.required():
            pytest.fail(message + " -- required here (CI or BROWNOUT_REQUIRE_PROMETHEUS is set)")
        pytest.skip(message)
    return path


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
