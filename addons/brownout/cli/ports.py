"""Check, before anything starts, that the ports a command will listen on are free.

A taken port would otherwise surface late and vaguely: the demo after its start-up timeout,
`run` after its banner in mitmproxy's words, `sim` as a traceback. The probe binds each port the
way asyncio's servers do (SO_REUSEADDR, so a port in TIME_WAIT counts as free) and lets it go.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from dataclasses import dataclass

SUGGEST_WITHIN = 50  # how far above a taken port to look for a free one to suggest


@dataclass(frozen=True, slots=True)
class Listener:
    flag: str  # the option that sets the port, e.g. --admin-port
    what: str  # what listens there, e.g. "the admin port"
    host: str
    port: int  # 0: any free port (never taken)


def bind_error(host: str, port: int) -> OSError | None:
    """Why (host, port) cannot be listened on now; None when it can."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc
    return None


def free_port_near(host: str, port: int) -> int | None:
    for candidate in range(port + 1, min(port + SUGGEST_WITHIN, 65535) + 1):
        if bind_error(host, candidate) is None:
            return candidate
    return None


def port_problem(listeners: Sequence[Listener]) -> str | None:
    """The first reason one of the listeners cannot start, as a message saying what to pass."""
    seen: dict[tuple[str, int], Listener] = {}
    for listener in listeners:
        if listener.port == 0:
            continue
        twin = seen.get((listener.host, listener.port))
        if twin is not None:
            return f"brownout: {twin.flag} and {listener.flag} are both {listener.port}; give each its own port"
        seen[(listener.host, listener.port)] = listener
    for listener in listeners:
        if listener.port == 0:
            continue
        error = bind_error(listener.host, listener.port)
        if error is None:
            continue
        where = f"{listener.host}:{listener.port}"
        if error.errno == errno.EADDRINUSE:
            near = free_port_near(listener.host, listener.port)
            hint = f"e.g. {listener.flag} {near}" if near is not None else f"{listener.flag} N"
            return (
                f"brownout: port {listener.port} on {listener.host} is taken, so {listener.what} cannot listen "
                f"there; pass {hint} (or stop what is using {where})"
            )
        reason = error.strerror or str(error)
        return f"brownout: {listener.what} cannot listen on {where} ({listener.flag}): {reason}"
    return None
