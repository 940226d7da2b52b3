"""A real Prometheus for tests: started on loopback, scraping given targets every second.

Used through the `prometheus` fixture in conftest.py. The binary comes from PATH (Debian's
`prometheus` package; `.ci/run` installs it). Without it a test is skipped with the reason,
a failure where tools are required (see required_tools.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

SCRAPE_INTERVAL = "1s"


class _PortTaken(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape_config(targets: Sequence[str], job: str = "brownout") -> str:
    lines = [
        "global:",
        f"  scrape_interval: {SCRAPE_INTERVAL}",
        f"  scrape_timeout: {SCRAPE_INTERVAL}",
        f"  evaluation_interval: {SCRAPE_INTERVAL}",
        "scrape_configs:",
        f"  - job_name: {job}",
        "    static_configs:",
        f"      - targets: [{', '.join(json.dumps(t) for t in targets)}]",
    ]
    return "\n".join(lines) + "\n"


class Prometheus:
    """One Prometheus process; `query` and friends speak to its HTTP API."""

    def __init__(self, binary: str, workdir: Path, targets: Sequence[str], job: str = "brownout") -> None:
        self.binary = binary
        self.workdir = workdir
        self.targets = list(targets)
        self.job = job
        self.port = 0
        self.scrape_port = 0  # the port of the target a test's proxy should serve, when there is one
        self.config = workdir / "prometheus.yml"
        self.log = workdir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0, tries: int = 3) -> None:
        """Start on a free loopback port; another one if something takes the port first."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(scrape_config(self.targets, self.job))
        for attempt in range(tries):
            try:
                self._start_once(free_port(), timeout)
                return
            except _PortTaken:
                if attempt == tries - 1:
                    raise RuntimeError(f"prometheus found no free port:\n{self.log.read_text()[-2000:]}") from None

    def _start_once(self, port: int, timeout: float) -> None:
        self.port = port
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            returncode = self._process.poll()
            if returncode is not None:
                self._process = None
                tail = self.log.read_text()[-2000:]
                if "address already in use" in tail:
                    raise _PortTaken
                raise RuntimeError(f"prometheus exited with {returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"prometheus not ready after {timeout} s:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    # -- the HTTP API (async: the proxy under test runs on the same event loop)

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (`[{"metric": {...}, "value": [ts, "v"]}, ...]`)."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}/api/v1/query", params={"query": expr}) as answer:
                payload = await answer.json()
        if payload.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {payload}")
        result: list[dict[str, Any]] = payload["data"]["result"]
        return result

    async def value(self, expr: str) -> float | None:
        """The single value of a query, None when it has no series; more than one is an error."""
        result = await self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise AssertionError(f"query {expr!r} returned {len(result)} series: {result}")
        return float(result[0]["value"][1])

    async def wait_for(self, expr: str, holds: Callable[[float | None], bool], timeout: float = 15.0) -> float | None:
        """Poll until the query's value satisfies `holds` (or the timeout); returns the last value,
        for the caller to assert on, so a failure shows what Prometheus had."""
        deadline = time.monotonic() + timeout
        value = await self.value(expr)
        while not holds(value) and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            value = await self.value(expr)
        return value

    async def wait_up(self, timeout: float = 15.0) -> None:
        """Wait until every target has been scraped successfully."""
        expr = f'min(up{{job="{self.job}"}})'
        value = await self.wait_for(expr, lambda v: v == 1, timeout)
        if value != 1:
            raise AssertionError(f"targets {self.targets} not up after {timeout} s (up={value})")

    async def wait_scraped_since(self, since: float, timeout: float = 15.0) -> None:
        """Wait for a successful scrape of every target that began after `since` (a Unix time):
        from then on, Prometheus holds what a process started before `since` exposes, and the
        series of whatever served the port earlier are stale."""
        expr = f'count(up{{job="{self.job}"}} == 1 and timestamp(up{{job="{self.job}"}}) > {since:.3f})'
        value = await self.wait_for(expr, lambda v: v == len(self.targets), timeout)
        if value != len(self.targets):
            raise AssertionError(f"no fresh scrape of {self.targets} after {timeout} s")

    def query_sync(self, expr: str) -> list[dict[str, Any]]:
        """The same as `query`, for tests without an event loop."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            payload = json.loads(answer.read())
        if payload.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {payload}")
        result: list[dict[str, Any]] = payload["data"]["result"]
        return result
