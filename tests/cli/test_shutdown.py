"""`brownout run` stops gracefully on SIGTERM: new connections are refused, the streams under way
finish within the grace period (or are cut at its end), and the exit status is 0. A real `brownout
run` and a real `brownout sim`, each in a process of its own, and the openai SDK streaming."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from conftest import StartProcess
from conftest import free_port
from conftest import wait_listening

MESSAGES = [{"role": "user", "content": "Tell me about brownouts."}]


@pytest.fixture
async def slow_sim(tmp_path: Path) -> AsyncIterator[str]:
    """`brownout sim` streaming 10 tokens a second: a 30-token answer takes about 3 s."""
    port = free_port()
    brownout = Path(sys.executable).parent / "brownout"
    with (tmp_path / "sim.log").open("w") as sink:
        process = subprocess.Popen(
            [str(brownout), "sim", "--port", str(port), "--tokens-per-second", "10", "--reply-tokens", "30"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def stream_with_sigterm(
    proxy_url: str, process: subprocess.Popen[str], port: int, health: list[int] | None = None, admin: str = ""
) -> tuple[str, bool, float]:
    """Stream an answer; after its first piece, SIGTERM the proxy and try a new connection (and
    `/healthz` on `admin`, its status into `health`). What the stream delivered, whether the new
    connection was refused, and when the SIGTERM went."""
    client = openai.AsyncOpenAI(base_url=f"{proxy_url}/openai/v1", api_key="sk-test", max_retries=0, timeout=30)
    stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    text: list[str] = []
    finish = ""
    signalled = 0.0
    was_refused = False
    async for chunk in stream:
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
        if not signalled and "".join(text).strip():
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            # The listening socket closes at once: polled (a loaded machine takes the signal
            # later), while the 3 s stream is still under way.
            deadline = time.monotonic() + 2.0
            while not (was_refused := await refused(port)) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if admin and health is not None:
                async with httpx.AsyncClient() as probe:
                    health.append((await probe.get(f"{admin}/healthz")).status_code)
    return "".join(text) + (f" [{finish}]" if finish else ""), was_refused, signalled


async def test_sigterm_lets_a_live_stream_finish_and_refuses_new_connections(
    slow_sim: str, start_proxy_process: StartProcess
) -> None:
    admin_port = free_port()
    proxy = await start_proxy_process("--admin-port", str(admin_port), "--upstream", f"openai={slow_sim}/openai")
    health: list[int] = []
    admin = f"http://127.0.0.1:{admin_port}"
    got, was_refused, signalled = await stream_with_sigterm(proxy.url, proxy.process, proxy.port, health, admin)
    assert got.endswith(" [stop]"), got  # the whole answer, to its finish reason
    assert health == [503]  # a readiness probe takes the draining replica out of the Service
    assert len(got.split()) >= 30
    assert was_refused
    status = await asyncio.to_thread(proxy.process.wait, 10)
    assert status == 0, proxy.output()
    assert time.monotonic() - signalled < 8  # it stopped once the stream was done, not at the grace
    assert "requests under way have up to 25 s to finish" in proxy.output()


async def test_a_stream_longer_than_the_grace_is_cut_at_the_grace_and_the_exit_is_still_0(
    slow_sim: str, start_proxy_process: StartProcess
) -> None:
    proxy = await start_proxy_process(
        "--admin-port", "0", "--upstream", f"openai={slow_sim}/openai", "--shutdown-grace", "1s"
    )
    with pytest.raises((openai.APIError, openai.APIConnectionError)):
        await stream_with_sigterm(proxy.url, proxy.process, proxy.port)
    status = await asyncio.to_thread(proxy.process.wait, 10)
    assert status == 0, proxy.output()
    assert "1 requests still under way are cut off" in proxy.output()


async def test_with_nothing_under_way_sigterm_stops_at_once(start_proxy_process: StartProcess) -> None:
    proxy = await start_proxy_process("--admin-port", "0")
    started = time.monotonic()
    proxy.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proxy.process.wait, 10) == 0
    assert time.monotonic() - started < 3
