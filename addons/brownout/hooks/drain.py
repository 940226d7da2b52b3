"""Graceful shutdown: stop accepting connections, let the requests and streams under way finish
within a grace period, then stop (`brownout run` on SIGTERM or Ctrl-C; see `brownout.cli.stopping`).

`begin()` turns mitmproxy's `server` option off, which closes the listening sockets (a new
connection is refused) and leaves open connections alone; an answer that starts while draining
tells an HTTP/1 client `connection: close`, so its pool does not send the next request down a
connection about to close. `under_way()` counts the requests that have begun and not ended.
The grace period (`brownout_shutdown_grace`, default `25s`) fits Kubernetes' default
`terminationGracePeriodSeconds` of 30 s, leaving 5 s for the rest of the stop before SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import math

from mitmproxy import exceptions
from mitmproxy import http

from brownout.engine.state import Brownout
from brownout.units import parse_duration

log = logging.getLogger(__name__)

DEFAULT_GRACE = "25s"


def grace_seconds(value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise exceptions.OptionsError(f"brownout_shutdown_grace: {exc}") from exc
    if not math.isfinite(seconds) or seconds > 3600:
        raise exceptions.OptionsError(f"brownout_shutdown_grace: {value!r} must be at most 1h")
    return seconds


class Drain:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.grace = grace_seconds(DEFAULT_GRACE)
        self.draining = False
        self._flows: dict[str, http.HTTPFlow] = {}

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "brownout_shutdown_grace",
            str,
            DEFAULT_GRACE,
            "On SIGTERM or Ctrl-C (brownout run), how long requests and streams under way may take to finish "
            "before the proxy stops; new connections are refused meanwhile.",
        )

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx

        if "brownout_shutdown_grace" in updated:
            self.grace = grace_seconds(ctx.options.brownout_shutdown_grace)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._flows[flow.id] = flow

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._closing(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._closing(flow)  # an answer sent whole goes out after this hook
        self._flows.pop(flow.id, None)

    def error(self, flow: http.HTTPFlow) -> None:
        self._flows.pop(flow.id, None)

    def under_way(self) -> int:
        return len(self._flows)

    async def begin(self, timeout: float = 5.0) -> None:
        """Stop listening (new connections are refused); open ones carry on."""
        from mitmproxy import ctx

        self.draining = self.state.draining = True
        ctx.options.update(server=False)
        proxyserver = ctx.master.addons.get("proxyserver")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while proxyserver is not None and proxyserver.listen_addrs() and loop.time() < deadline:
            await asyncio.sleep(0.01)

    def _closing(self, flow: http.HTTPFlow) -> None:
        if self.draining and flow.response is not None and flow.request.http_version.startswith("HTTP/1"):
            flow.response.headers["connection"] = "close"
