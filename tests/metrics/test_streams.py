"""The stream metrics as a real Prometheus scrapes them from the admin port, after real streams
(faulted and not) went through the proxy; and `promtool` finds nothing to lint in them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from conftest import free_port
from proxykit import h1_client
from proxykit import proxy_for
from proxykit import read_stream
from proxykit import switch_to
from required_tools import need_tool
from sse_upstream import SseUpstream


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """A Prometheus scraping 127.0.0.1:<admin port> every second; yields (its URL, that port)."""
    binary = need_tool("prometheus", "the stream metrics are read through a real Prometheus")
    admin_port, port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: brownout\n    static_configs: [{{targets: ['127.0.0.1:{admin_port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(150):
                try:
                    async with session.get(f"{url}/-/ready") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("Prometheus did not become ready: " + (tmp_path / "prometheus.log").read_text()[-2000:])
        yield url, admin_port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


async def query(url: str, expr: str) -> dict[str, float]:
    """An instant query: {outcome or '' : value}."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/api/v1/query?query={urllib.parse.quote(expr)}") as response:
            data = json.loads(await response.text())
    return {r["metric"].get("outcome", ""): float(r["value"][1]) for r in data["data"]["result"]}


async def wait_for(url: str, expr: str, want: dict[str, float], timeout: float = 40) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    got: dict[str, float] = {}
    while time.monotonic() < deadline:
        got = await query(url, expr)
        if got == want:
            return got
        await asyncio.sleep(0.5)
    return got


async def test_stream_metrics_in_prometheus(prometheus: tuple[str, int], tmp_path: Path) -> None:
    url, admin_port = prometheus
    async with (
        SseUpstream(events=10, gap=0.005) as upstream,
        proxy_for(upstream.url, tmp_path, admin_port=admin_port) as proxy,
        h1_client() as client,
    ):
        switch_to(proxy, "{type: stream_cut, after_events: 3}")
        cut = await read_stream(client, proxy.url, "faulty")
        switch_to(proxy, "{type: stream_error, after_events: 4}")
        errored = await read_stream(client, proxy.url, "faulty")
        plain = [await read_stream(client, proxy.url) for _ in range(2)]
        assert isinstance(cut.error, httpx.RemoteProtocolError) and errored.done and all(p.done for p in plain)
        # 3 + (4 + error + [DONE]) + 2 x 13 events reached the clients.
        labels = '{provider="openai",endpoint="chat"}'
        streams = await wait_for(
            url,
            f"sum by (outcome) (brownout_streams_total{labels})",
            {"cut": 1, "errored": 1, "completed": 2},
        )
        assert streams == {"cut": 1, "errored": 1, "completed": 2}
        assert await wait_for(url, f"sum(brownout_stream_events_total{labels})", {"": 35}) == {"": 35}
        ttfe = await query(url, f"sum(brownout_stream_time_to_first_event_seconds_count{labels})")
        assert ttfe == {"": 4}
        assert await query(url, "brownout_stream_adapter_enabled") == {"": 1}
        # The Recorder sees a cut stream as aborted: headers sent, body unfinished.
        codes = await query(
            url, 'sum by (outcome) (label_replace(brownout_requests_total, "outcome", "$1", "code", "(.*)"))'
        )
        assert codes == {"aborted": 1, "200": 3}
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{proxy.admin_url}/metrics") as response:
                exposition = await response.read()
    promtool = need_tool("promtool", "it lints the exposition")
    lint = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30)
    # promtool exits non-zero on any lint problem (and on a crash), so the status is the verdict.
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()
