"""Client connections: the idle-connection timeout (never cutting a request under way), and one
quiet line at the file-descriptor limit, after which the proxy serves again."""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from brownout.hooks.connections import AcceptErrors
from brownout.hooks.connections import idle_seconds
from conftest import StartProxy
from conftest import free_port
from conftest import wait_listening
from silent_upstream import SilentUpstream


async def closed_within(port: int, seconds: float, send: bytes = b"") -> float | None:
    """Open a connection to the proxy, send `send`, and how long until the proxy closed it (None:
    still open after `seconds`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        if send:
            writer.write(send)
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
        return time.monotonic() - started
    except TimeoutError:
        return None
    finally:
        writer.close()


async def test_an_idle_connection_is_closed_after_the_idle_timeout(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(extra_options={"brownout_idle_timeout": "1s"})
    assert proxy.master.options.tcp_timeout == 1
    closed = await closed_within(proxy.port, 5.0)
    assert closed is not None and 0.8 <= closed < 3.0, closed
    # A keep-alive connection after its answer is idle too.
    request = b"GET /nowhere HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
    closed = await closed_within(proxy.port, 5.0, request)
    assert closed is not None and closed < 3.0, closed


async def test_the_default_closes_idle_connections_within_two_minutes(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    assert proxy.master.options.tcp_timeout == 120  # was mitmproxy's 600
    assert await closed_within(proxy.port, 1.5) is None  # and not sooner than the SDKs' pools expect


async def test_a_request_under_way_is_never_cut_by_the_idle_timeout(start_proxy: StartProxy) -> None:
    async with SilentUpstream() as silent:
        proxy = await start_proxy(
            upstreams=[f"openai={silent.url}/openai"],
            extra_options={"brownout_idle_timeout": "1s", "brownout_first_byte_timeout": "2.5s"},
        )
        client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0, timeout=20)
        started = time.monotonic()
        with pytest.raises(openai.InternalServerError) as raised:  # not a disconnect at 1 s
            await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])  # type: ignore[arg-type]
    assert raised.value.status_code == 504
    assert time.monotonic() - started >= 2.5


async def test_a_latency_hold_longer_than_the_idle_timeout_is_not_cut(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(
        "rules:\n  - fault: {type: latency, delay: 2s}\n", extra_options={"brownout_idle_timeout": "1s"}
    )
    client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)
    answer = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])  # type: ignore[arg-type]
    assert answer.choices[0].message.content


def test_idle_timeout_values() -> None:
    from mitmproxy import exceptions

    assert idle_seconds("120s") == 120
    assert idle_seconds("500ms") == 1  # mitmproxy counts whole seconds
    for bad in ("0", "nan", "soon", "2d"):
        with pytest.raises(exceptions.OptionsError, match="brownout_idle_timeout"):
            idle_seconds(bad)


def test_accept_failures_are_one_line_per_quiet_period(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    passed: list[dict[str, object]] = []
    handler = AcceptErrors(lambda loop, context: passed.append(context), quiet=10.0, clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    emfile = OSError(errno.EMFILE, "Too many open files")
    try:
        with caplog.at_level("ERROR", "brownout.hooks.connections"):
            for step in range(300):  # 100 a second, as asyncio's accept loop makes them, for 3 s
                now[0] = step / 100
                handler(loop, {"message": "socket.accept() out of system resource", "exception": emfile})
            now[0] = 10.5
            handler(loop, {"message": "socket.accept() out of system resource", "exception": emfile})
            handler(loop, {"message": "something else", "exception": ValueError("x")})
    finally:
        loop.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "brownout.hooks.connections"]
    assert len(lines) == 2
    assert lines[0].startswith("brownout: cannot accept connections: Too many open files (file descriptor limit")
    assert "300 accept failures since the last line" in lines[1]
    assert [c["message"] for c in passed] == ["something else"]  # the rest goes to mitmproxy's handler


def test_an_accept_retry_on_a_closed_listener_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """Stopping while asyncio waits to retry accept(): the retry raises on the closed socket."""
    passed: list[dict[str, object]] = []
    handler = AcceptErrors(lambda loop, context: passed.append(context))
    loop = asyncio.new_event_loop()
    closed = socket.socket()
    closed.close()

    def _start_serving() -> None:  # named as asyncio's own, whose frame the handler looks for
        loop.add_reader(closed.fileno(), lambda: None)

    try:
        with pytest.raises(ValueError, match="file descriptor") as raised:
            _start_serving()
        with caplog.at_level("WARNING"):
            handler(loop, {"message": "Unhandled error in task", "exception": raised.value})
            handler(loop, {"message": "elsewhere", "exception": ValueError("Invalid file descriptor: -1")})
    finally:
        loop.close()
    assert [c["message"] for c in passed] == ["elsewhere"]  # only the retry's is quieted
    assert not [r for r in caplog.records if r.name == "brownout.hooks.connections"]


FD_LIMIT = 64


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


async def test_at_the_fd_limit_one_line_and_the_proxy_serves_again(tmp_path: Path) -> None:
    """`brownout run` in a process limited to 64 file descriptors, given 150 connections at once."""
    port = free_port()
    log = tmp_path / "run.log"
    brownout = Path(sys.executable).parent / "brownout"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(brownout), "run", "--port", str(port), "--admin-port", "0", "--no-watch"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_low_fd_limit,
        )
    held: list[socket.socket] = []
    try:
        await wait_listening(port, process)
        for _ in range(150):  # the kernel completes the handshakes; the proxy cannot accept them all
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(sock)
        await asyncio.sleep(3.0)
        for sock in held:
            sock.close()
        held.clear()
        await asyncio.sleep(1.5)  # asyncio retries accept() each second
        status = await asyncio.to_thread(_get_status, f"http://127.0.0.1:{port}/nowhere")
        assert status == 404  # brownout's routing answer: served again
    finally:
        for sock in held:
            sock.close()
        process.terminate()
        process.wait(15)
    output = log.read_text()
    lines = [line for line in output.splitlines() if "cannot accept connections" in line]
    assert len(lines) == 1, output[-3000:]
    assert f"file descriptor limit {FD_LIMIT}" in lines[0]
    assert "Traceback" not in output, output[-3000:]


def _get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
