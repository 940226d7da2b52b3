"""A real redis-server for tests: on 127.0.0.1, a free port, its files in a tmp dir.

Tests start, stop (politely or with SIGKILL, as an outage) and restart it on the same port, so a
client's URL stays valid across the outage. Its data persist across a restart through the
append-only file, as a production Redis with persistence would keep them (not across a power cut:
the file is not fsynced, which no test needs). The binary comes from PATH (Debian's `redis-server`
package; `.ci/run` installs it); without it the `redis_server` fixture skips with the reason (a
failure where tools are required, see required_tools.py).

Use it as a fixture: `from redis_server import redis_server  # noqa: F401` in a test module or a
conftest, then take `redis_server` (a started `RedisServer`) as an argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prom import free_port
from required_tools import need_tool


class RedisServer:
    """One redis-server process; `url` stays the same across `stop` and `start`."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.log = workdir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0, tries: int = 3) -> None:
        """Start on a free loopback port (the same one again after a stop)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.port:
            try:
                self._start_once(self.port, timeout)
            except _PortTaken:
                # The port went to someone else while this server was down: a test relying on
                # the same URL across the restart would be testing nothing.
                raise RuntimeError(f"port {self.port} was taken while redis-server was stopped") from None
            return
        for attempt in range(tries):
            try:
                self._start_once(free_port(), timeout)
                return
            except _PortTaken:
                self.port = 0
                if attempt == tries - 1:
                    raise RuntimeError(f"redis-server found no free port:\n{self._tail()}") from None

    def _start_once(self, port: int, timeout: float) -> None:
        self.port = port
        # Persistence by the append-only file, written at every command, so a restart (even
        # after SIGKILL) finds what was there; no snapshots. Redis writes the file before it
        # answers, and the kernel keeps what was written when the process is killed, so no fsync
        # is needed for that: fsync at every command (`always`) made a write wait on a busy CI
        # disk past the links' 0.5 s command timeout, a Redis outage no test had asked for.
        settings = {"bind": "127.0.0.1", "port": str(port), "dir": str(self.workdir), "save": '""'}
        settings |= {"appendonly": "yes", "appendfsync": "no", "daemonize": "no", "loglevel": "warning"}
        config = self.workdir / "redis.conf"
        config.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
        log = self.log.open("ab")
        self._process = subprocess.Popen([self.binary, str(config)], stdout=log, stderr=subprocess.STDOUT)
        log.close()  # the child has its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            returncode = self._process.poll()
            if returncode is not None:
                self._process = None
                tail = self._tail()
                if "Address already in use" in tail or "already in use" in tail:
                    raise _PortTaken
                raise RuntimeError(f"redis-server exited with {returncode}:\n{tail}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"redis-server not ready after {timeout} s:\n{self._tail()}")

    def ping(self) -> bool:
        """Whether the server answers PING now (a raw RESP exchange: no client library involved)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (Redis flushes its append-only file and exits) or, with `kill`, SIGKILL."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        self._process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing (a hung Redis)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


class FrozenNetwork:
    """A TCP relay on loopback in front of a Redis, whose `freeze()` is a network that drops every
    packet: the connections open at that moment stay open and carry nothing, ever again (as after
    a lost NAT or conntrack entry); connections made while frozen hang too. After `heal()` new
    connections carry traffic; the frozen ones stay dead. Runs on the test's event loop."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._dead: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def freeze(self) -> None:
        self.frozen = True

    def heal(self) -> None:
        self.frozen = False

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._dead:
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._dead.append(writer)
        if self.frozen:
            return  # accepted, never answered
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._dead.append(upstream_writer)
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if self.frozen:
                    return  # this connection is dead from now on; its sockets stay open
                writer.write(data)
                await writer.drain()


class _PortTaken(Exception):
    pass


def _running(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(need_tool("redis-server", "brownout's fleet state lives in a real Redis"), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started redis-server of this test's own, stopped at the end."""
    yield from _running(tmp_path / "redis")


@pytest.fixture
def another_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A second one (a failover's other side), on its own port and files."""
    yield from _running(tmp_path / "redis-2")
