"""A port that is taken is named, with what to pass instead, before anything starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from brownout.cli.ports import Listener
from brownout.cli.ports import port_problem
from conftest import free_port

BROWNOUT = str(Path(sys.executable).parent / "brownout")


@contextmanager
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_taken_port_is_named_with_a_free_one_to_pass() -> None:
    with taken_port() as port:
        problem = port_problem([Listener("--admin-port", "the admin port", "127.0.0.1", port)])
    assert problem is not None
    assert problem.startswith(f"brownout: port {port} on 127.0.0.1 is taken, so the admin port cannot listen there")
    suggested = int(problem.split("pass e.g. --admin-port ")[1].split()[0])
    assert suggested > port


def test_free_ports_and_any_port_pass() -> None:
    assert port_problem([Listener("--port", "the proxy", "127.0.0.1", free_port())]) is None
    assert port_problem([Listener("--port", "the proxy", "127.0.0.1", 0), Listener("--x", "x", "127.0.0.1", 0)]) is None


def test_the_same_port_twice() -> None:
    port = free_port()
    listeners = [
        Listener("--port", "the proxy", "127.0.0.1", port),
        Listener("--admin-port", "admin", "127.0.0.1", port),
    ]
    assert port_problem(listeners) == f"brownout: --port and --admin-port are both {port}; give each its own port"


def test_an_address_this_machine_does_not_have() -> None:
    problem = port_problem([Listener("--listen-host", "the proxy", "192.0.2.1", free_port())])  # TEST-NET-1
    assert problem is not None and "the proxy cannot listen on 192.0.2.1:" in problem


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["run", "--admin-port", "0"], "--port"),
        (["demo", "--admin-port", "0"], "--port"),
        (["sim"], "--port"),
        (["run", "--port", "FREE", "--forward-port"], "--forward-port"),
    ],
)
def test_each_command_stops_at_once_naming_the_port(command: list[str], flag: str) -> None:
    with taken_port() as port:
        argv = [BROWNOUT, *(str(free_port()) if a == "FREE" else a for a in command)]
        if argv[-1] != "--forward-port":
            argv.append(flag)
        argv.append(str(port))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""  # no banner, no summary: nothing started
    assert f"brownout: port {port} on 127.0.0.1 is taken" in done.stderr
    assert f"pass e.g. {flag} " in done.stderr
    assert "Traceback" not in done.stderr
