"""What the benchmarks share: free ports, the processes they start and stop, readiness polling."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

import aiohttp

# A three-line mitmproxy addon: what a mitmdump user writes so SSE is not buffered.
STREAM_ADDON = """
def responseheaders(flow):
    if flow.response.headers.get("content-type", "").startswith("text/event-stream"):
        flow.response.stream = True
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


async def wait_until(
    ready: Callable[[aiohttp.ClientSession], Awaitable[bool]], what: str, timeout: float = 30.0
) -> None:
    """Poll `ready` until it says yes; connection errors while a process starts count as no."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                if await ready(session):
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{what} not ready in time")


def write_results(bench: str, report: dict[str, object]) -> Path:
    """Keep a run's figures as JSON in tests/bench/results/ (ignored by git) and say where."""
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    out = results / f"{bench}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {out}")
    return out
