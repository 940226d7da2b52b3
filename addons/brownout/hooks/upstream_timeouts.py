"""Options for the upstream's time limits (connect, first byte, idle stream), and the hooks that
start and stop the connect deadline; the limits themselves run in `brownout.mitm.upstream_timeouts`.

Defaults, and why:
- connect `10s`: a TCP and TLS handshake to a provider takes well under a second; 10 s leaves
  room for two lost SYNs (Linux resends after 1 s and 3 s) and a slow TLS handshake, and a client
  whose own timeout is the SDK's 600 s read timeout learns of a dead address in seconds.
- first byte `10m`: a non-streamed answer's first byte comes when the whole answer is written,
  which takes minutes for a long or reasoning-heavy one. Ten minutes is the official SDKs' default
  read timeout (openai and anthropic python and node): brownout never cuts an answer that a
  client with default settings would still wait for. Set it nearer your app's own timeout to have
  a silent upstream answered sooner.
- idle stream `10m`: the longest gap between two pieces of a streamed body; a reasoning model
  can think for minutes between events, and the SDKs' read timeout applies between reads too.

A latency fault's hold, or any other wait of brownout's own, does not count: the first-byte clock
starts when the request goes upstream, and a stream fault's hold is not the upstream's silence.
"""

from __future__ import annotations

import math

from mitmproxy import connection
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy import tls
from mitmproxy.proxy import server_hooks

from brownout.engine.state import Brownout
from brownout.mitm import upstream_timeouts
from brownout.mitm.upstream_timeouts import connect_timer
from brownout.units import parse_duration

LONGEST = 24 * 3600.0
OPTIONS = {
    "brownout_connect_timeout": (
        "10s",
        "Longest wait for an upstream connection (TCP and TLS); then brownout's labelled 504. 0: no limit.",
    ),
    "brownout_first_byte_timeout": (
        "10m",
        "Longest wait from sending a request upstream (after any latency fault) to the answer's headers; "
        "then brownout's labelled 504. 0: no limit.",
    ),
    "brownout_stream_idle_timeout": (
        "10m",
        "Longest gap between two pieces of the upstream's answer; a stream then ends with the provider's "
        "mid-stream error event. 0: no limit.",
    ),
}


def limit_option(name: str, value: str) -> float:
    """A limit's seconds (0: off), or the option's error."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise exceptions.OptionsError(f"{name}: {exc}") from exc
    if not math.isfinite(seconds) or seconds > LONGEST:
        raise exceptions.OptionsError(f"{name}: {value!r} is not a limit: at most 24h; 0 turns it off")
    return seconds


class UpstreamTimeouts:
    def __init__(self, state: Brownout) -> None:
        self.state = state

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        for name, (default, help_text) in OPTIONS.items():
            loader.add_option(name, str, default, help_text)

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx

        limits = upstream_timeouts.timeouts
        if "brownout_connect_timeout" in updated:
            limits.connect = limit_option("brownout_connect_timeout", ctx.options.brownout_connect_timeout)
        if "brownout_first_byte_timeout" in updated:
            limits.first_byte = limit_option("brownout_first_byte_timeout", ctx.options.brownout_first_byte_timeout)
        if "brownout_stream_idle_timeout" in updated:
            limits.stream_idle = limit_option("brownout_stream_idle_timeout", ctx.options.brownout_stream_idle_timeout)

    def running(self) -> None:
        self.configure(set(OPTIONS))  # an option left at its default is never "updated"
        upstream_timeouts.install()
        upstream_timeouts.timeouts.applies = self.applies

    def applies(self, flow: http.HTTPFlow) -> bool:
        here = self.state.flows.get(flow)
        return here is not None and bool(here.provider)

    # The connect deadline: from the connection's start to the end of its TCP (and TLS) handshake.

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        address = data.server.address
        if address is not None:
            connect_timer.started(
                data.client.id, data.server.id, (str(address[0]), int(address[1])), upstream_timeouts.timeouts.connect
            )

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        if not data.server.tls:
            connect_timer.ready(data.server.id)

    def tls_established_server(self, data: tls.TlsData) -> None:
        connect_timer.ready(data.conn.id)

    def tls_failed_server(self, data: tls.TlsData) -> None:
        connect_timer.ready(data.conn.id)

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        connect_timer.ready(data.server.id)

    def server_disconnected(self, data: server_hooks.ServerConnectionHookData) -> None:
        connect_timer.ready(data.server.id)

    def client_disconnected(self, client: connection.Client) -> None:
        connect_timer.forget_client(client.id)
