"""mitmproxy's idle-connection watchdog, held off while a request is under way.

mitmproxy closes a client connection after `tcp_timeout` seconds without a byte either way,
whatever the connection is doing. brownout sets that option to its idle-connection timeout, which
is meant for connections doing nothing (an SDK's pooled connection, a client that went away
without closing); a request that waits for a slow upstream answer or for one of brownout's own
holds is not idle, and has brownout's upstream limits instead (`brownout.mitm.upstream_timeouts`).

So from the moment a request is complete until its answer ends, `InFlight` holds the watchdog of
its client connection off, through the watchdog's own `disarm()` (the guard mitmproxy puts around
every hook), found through the proxyserver addon's connection table. On a mitmproxy where these
do not fit, nothing is held and the watchdog applies to the whole connection, as it always did.
"""

from __future__ import annotations

import inspect
import logging
from contextlib import AbstractContextManager
from typing import Any

from mitmproxy import ctx
from mitmproxy import http
from mitmproxy.proxy import server

from brownout.mitm.compat import tested_version
from brownout.mitm.compat import untested_version

log = logging.getLogger(__name__)


def check() -> list[str]:
    """What in the installed mitmproxy does not fit (empty: it fits)."""
    problems: list[str] = []
    watchdog = getattr(server, "TimeoutWatchdog", None)
    if watchdog is None or not callable(getattr(watchdog, "disarm", None)):
        problems.append("mitmproxy.proxy.server.TimeoutWatchdog.disarm is gone")
    handler = getattr(server, "ConnectionHandler", None)
    if handler is None or "self.timeout_watchdog" not in inspect.getsource(handler.__init__):
        problems.append("ConnectionHandler no longer has a timeout_watchdog")
    elif "tcp_timeout" not in inspect.getsource(handler.__init__):
        problems.append("ConnectionHandler no longer reads the tcp_timeout option")
    if not tested_version():
        problems.append(untested_version())
    return problems


def _watchdog(client_id: str) -> Any:
    """The watchdog of a client connection, or None (gone, or a mitmproxy that does not fit)."""
    try:
        return ctx.master.addons.get("proxyserver").connections[client_id].timeout_watchdog
    except (AttributeError, KeyError):
        return None


class InFlight:
    """The watchdog holds taken for requests under way, by client connection and flow."""

    def __init__(self) -> None:
        self.enabled = False
        self._held: dict[str, dict[str, AbstractContextManager[None]]] = {}

    def enable(self) -> bool:
        problems = check()
        if problems:
            log.warning(
                "brownout: the idle-connection timeout also cuts requests that wait longer than it: %s",
                "; ".join(problems),
            )
        self.enabled = not problems
        return self.enabled

    def hold(self, flow: http.HTTPFlow) -> None:
        if not self.enabled:
            return
        client_id = flow.client_conn.id
        flows = self._held.setdefault(client_id, {})
        if flow.id in flows:
            return
        watchdog = _watchdog(client_id)
        if watchdog is None:
            return
        guard: AbstractContextManager[None] = watchdog.disarm()
        guard.__enter__()
        flows[flow.id] = guard

    def release(self, flow: http.HTTPFlow) -> None:
        flows = self._held.get(flow.client_conn.id)
        guard = flows.pop(flow.id, None) if flows is not None else None
        if guard is not None:
            guard.__exit__(None, None, None)
        if flows is not None and not flows:
            del self._held[flow.client_conn.id]

    def release_client(self, client_id: str) -> None:
        for guard in self._held.pop(client_id, {}).values():
            guard.__exit__(None, None, None)

    def __len__(self) -> int:
        return sum(len(flows) for flows in self._held.values())
